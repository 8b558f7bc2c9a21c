using System.Buffers;
using System.Runtime.CompilerServices;

namespace FineTuneLab.Trainer.Data;

/// <summary>
/// Reads a JSONL file line by line with a fixed-size buffer, so a multi-GB file is never held in memory; each line
/// comes with its byte offset (for <see cref="JsonlIndex"/>). Handles \n and \r\n endings and a UTF-8 BOM.
/// </summary>
public static class JsonlReader
{
    /// <summary>Longest line accepted (a line longer than this is almost certainly not one example).</summary>
    public const int MaxLineBytes = 64 * 1024 * 1024;

    public static async IAsyncEnumerable<JsonlLine> ReadLinesAsync(string path, [EnumeratorCancellation] CancellationToken ct = default)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan | FileOptions.Asynchronous);
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            int filled = 0, start = 0;
            long bufferOffset = 0, lineNumber = 0;
            var eof = false;
            var first = true;
            while (true)
            {
                var newline = Array.IndexOf(buffer, (byte)'\n', start, filled - start);
                if (newline < 0 && !eof)
                {
                    // Move the partial line to the front (growing the buffer for long lines) and read more.
                    var partial = filled - start;
                    if (partial >= MaxLineBytes)
                        throw new InvalidDataException($"{path}: line {lineNumber + 1} is longer than {MaxLineBytes} bytes");
                    if (start > 0)
                    {
                        Buffer.BlockCopy(buffer, start, buffer, 0, partial);
                        bufferOffset += start;
                        start = 0;
                        filled = partial;
                    }
                    if (filled == buffer.Length)
                    {
                        var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                        Buffer.BlockCopy(buffer, 0, bigger, 0, filled);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                    }
                    var n = await stream.ReadAsync(buffer.AsMemory(filled), ct);
                    if (n == 0) eof = true;
                    filled += n;
                    if (first && filled >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF)
                        start = 3;
                    if (filled >= 3 || eof) first = false;
                    continue;
                }
                var end = newline >= 0 ? newline : filled;
                if (newline < 0 && start >= filled) yield break;
                var lineEnd = end > start && buffer[end - 1] == '\r' ? end - 1 : end;
                lineNumber++;
                // A copy: the caller may keep the line after the buffer moves on.
                yield return new JsonlLine(lineNumber, bufferOffset + start, buffer.AsSpan(start, lineEnd - start).ToArray());
                start = end + 1;
                if (newline < 0) yield break;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
