using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace FineTuneLab.Trainer.Formats;

/// <summary>
/// UTF-8 checked before JSON is parsed: System.Text.Json validates a string's UTF-8 only when the string is read,
/// and then throws InvalidOperationException from deep inside whatever read it. Every reader of JSON files refuses
/// bad bytes up front instead, with where they are.
/// </summary>
public static class Utf8Text
{
    /// <returns>The offset of the first byte that is not valid UTF-8, or -1.</returns>
    public static int FirstInvalid(ReadOnlySpan<byte> bytes)
    {
        if (Utf8.IsValid(bytes)) return -1;
        var offset = 0;
        while (offset < bytes.Length)
        {
            if (Rune.DecodeFromUtf8(bytes[offset..], out _, out var consumed) != OperationStatus.Done) return offset;
            offset += consumed;
        }
        return -1;
    }

    /// <summary>1-based line and column (in bytes) of <paramref name="offset"/>.</summary>
    public static (int Line, int Column) Position(ReadOnlySpan<byte> bytes, int offset)
    {
        var before = bytes[..offset];
        return (before.Count((byte)'\n') + 1, offset - (before.LastIndexOf((byte)'\n') + 1) + 1);
    }

    /// <summary>"byte 0xFF at offset 12 (line 1, column 13)", or null when the bytes are valid UTF-8.</summary>
    public static string? Problem(ReadOnlySpan<byte> bytes)
    {
        var bad = FirstInvalid(bytes);
        if (bad < 0) return null;
        var (line, column) = Position(bytes, bad);
        return $"not valid UTF-8: byte 0x{bytes[bad]:X2} at offset {bad} (line {line}, column {column})";
    }
}
