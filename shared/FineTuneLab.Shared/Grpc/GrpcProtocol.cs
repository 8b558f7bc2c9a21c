using System.Buffers;
using System.Globalization;
using System.Text;

namespace FineTuneLab.Shared.Grpc;

/// <summary>The constants and small encodings of gRPC over HTTP/2 (grpc/doc/PROTOCOL-HTTP2.md).</summary>
public static class GrpcProtocol
{
    public const string ContentType = "application/grpc";
    public const string StatusHeader = "grpc-status";
    public const string MessageHeader = "grpc-message";
    public const string TimeoutHeader = "grpc-timeout";
    public const string EncodingHeader = "grpc-encoding";
    public const string AcceptEncodingHeader = "grpc-accept-encoding";
    public const string IdentityEncoding = "identity";
    public const string GzipEncoding = "gzip";
    /// <summary>What we can decompress, advertised in <c>grpc-accept-encoding</c>.</summary>
    public const string SupportedEncodings = "identity,gzip";
    public const int DefaultMaxReceiveMessageSize = 4 * 1024 * 1024;
    public const int FrameHeaderSize = 5;

    /// <summary>True for <c>application/grpc</c> and its <c>+proto</c> / <c>;params</c> variants.</summary>
    public static bool IsGrpcContentType(string? contentType)
    {
        if (contentType is null || !contentType.StartsWith(ContentType, StringComparison.OrdinalIgnoreCase))
            return false;
        if (contentType.Length == ContentType.Length)
            return true;
        var next = contentType[ContentType.Length];
        return next is '+' or ';';
    }

    /// <summary>Headers that are part of the protocol, never surfaced as user metadata.</summary>
    public static bool IsReservedHeader(string name) =>
        name.Length == 0 || name[0] == ':' ||
        name.Equals("content-type", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("te", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("content-length", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("host", StringComparison.OrdinalIgnoreCase) ||
        name.StartsWith("grpc-", StringComparison.OrdinalIgnoreCase);

    // ---- grpc-timeout: 1 to 8 ASCII digits and a unit (H hours, M minutes, S seconds, m millis, u micros, n nanos) ----

    private const long MaxTimeoutValue = 99_999_999;

    /// <summary>Parses a <c>grpc-timeout</c> value; false if it is malformed.</summary>
    public static bool TryParseTimeout(ReadOnlySpan<char> text, out TimeSpan timeout)
    {
        timeout = default;
        if (text.Length < 2 || text.Length > 9)
            return false;
        var digits = text[..^1];
        foreach (var c in digits)
        {
            if (c is < '0' or > '9')
                return false;
        }
        var value = long.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);
        long ticks;
        switch (text[^1])
        {
            case 'H': ticks = value * TimeSpan.TicksPerHour; break;
            case 'M': ticks = value * TimeSpan.TicksPerMinute; break;
            case 'S': ticks = value * TimeSpan.TicksPerSecond; break;
            case 'm': ticks = value * TimeSpan.TicksPerMillisecond; break;
            case 'u': ticks = value * 10; break;
            case 'n': ticks = (value + 99) / 100; break;
            default: return false;
        }
        timeout = TimeSpan.FromTicks(ticks);
        return true;
    }

    /// <summary>
    /// Formats a timeout in the finest unit whose value fits in 8 digits, rounding up so the peer never sees a
    /// shorter deadline than ours. Non-positive timeouts become <c>1n</c> (already expired, but well-formed).
    /// </summary>
    public static string FormatTimeout(TimeSpan timeout)
    {
        var ticks = timeout.Ticks;
        if (ticks <= 0)
            return "1n";
        // (unit, ticks per unit); nanoseconds are 1/100 tick.
        if (ticks <= MaxTimeoutValue / 100)
            return (ticks * 100).ToString(CultureInfo.InvariantCulture) + "n";
        ReadOnlySpan<(char Unit, long Ticks)> units =
        [
            ('u', 10), ('m', TimeSpan.TicksPerMillisecond), ('S', TimeSpan.TicksPerSecond),
            ('M', TimeSpan.TicksPerMinute), ('H', TimeSpan.TicksPerHour),
        ];
        foreach (var (unit, per) in units)
        {
            var value = (ticks + per - 1) / per;
            if (value <= MaxTimeoutValue)
                return value.ToString(CultureInfo.InvariantCulture) + unit;
        }
        return MaxTimeoutValue.ToString(CultureInfo.InvariantCulture) + "H";
    }

    // ---- grpc-message: UTF-8, percent-encoding every byte outside 0x20..0x7E and '%' itself ----

    public static string EncodeMessage(string message)
    {
        var needs = false;
        foreach (var c in message)
        {
            if (c is < ' ' or > '~' or '%') { needs = true; break; }
        }
        if (!needs)
            return message;

        var bytes = Encoding.UTF8.GetBytes(message);
        var sb = new StringBuilder(bytes.Length * 2);
        foreach (var b in bytes)
        {
            if (b is < 0x20 or > 0x7E or (byte)'%')
                sb.Append('%').Append(HexUpper[b >> 4]).Append(HexUpper[b & 0xF]);
            else
                sb.Append((char)b);
        }
        return sb.ToString();
    }

    /// <summary>Decodes a <c>grpc-message</c>; malformed escapes are kept as they are, as the spec asks.</summary>
    public static string DecodeMessage(string encoded)
    {
        if (!encoded.Contains('%'))
            return encoded;
        var buffer = ArrayPool<byte>.Shared.Rent(encoded.Length * 3);
        try
        {
            var n = 0;
            for (var i = 0; i < encoded.Length; i++)
            {
                var c = encoded[i];
                if (c == '%' && i + 2 < encoded.Length &&
                    HexValue(encoded[i + 1]) is var hi and >= 0 && HexValue(encoded[i + 2]) is var lo and >= 0)
                {
                    buffer[n++] = (byte)(hi << 4 | lo);
                    i += 2;
                }
                else
                {
                    // Non-ASCII characters should not be here at all; keep them readable rather than fail.
                    if (c > 0x7F)
                        n += Encoding.UTF8.GetBytes(encoded.AsSpan(i, 1), buffer.AsSpan(n));
                    else
                        buffer[n++] = (byte)c;
                }
            }
            return Encoding.UTF8.GetString(buffer, 0, n);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private const string HexUpper = "0123456789ABCDEF";

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
