using Microsoft.Win32.SafeHandles;

namespace FineTuneLab.Trainer.Data;

/// <summary>
/// Byte offsets of every non-blank line of a JSONL file (8 bytes per line), built in one streaming pass, so examples
/// can be read in any (shuffled) order without loading the file.
/// </summary>
public sealed class JsonlIndex : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly long[] _offsets;
    private readonly int[] _lengths;
    private readonly long[] _lineNumbers;

    public string Path { get; }
    public int Count => _offsets.Length;

    private JsonlIndex(string path, long[] offsets, int[] lengths, long[] lineNumbers)
    {
        Path = path;
        _offsets = offsets;
        _lengths = lengths;
        _lineNumbers = lineNumbers;
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
    }

    public static async Task<JsonlIndex> BuildAsync(string path, CancellationToken ct = default)
    {
        var offsets = new List<long>();
        var lengths = new List<int>();
        var lines = new List<long>();
        await foreach (var line in JsonlReader.ReadLinesAsync(path, ct))
        {
            if (IsBlank(line.Bytes.Span)) continue;
            offsets.Add(line.ByteOffset);
            lengths.Add(line.Bytes.Length);
            lines.Add(line.LineNumber);
        }
        return new JsonlIndex(path, [.. offsets], [.. lengths], [.. lines]);
    }

    public static bool IsBlank(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r')) return false;
        return true;
    }

    /// <summary>The i-th non-blank line (0-based), read from disk.</summary>
    public JsonlLine Read(int i)
    {
        var bytes = new byte[_lengths[i]];
        var read = 0;
        while (read < bytes.Length)
        {
            var n = RandomAccess.Read(_handle, bytes.AsSpan(read), _offsets[i] + read);
            if (n == 0) throw new IOException($"{Path} changed while it was being read (line {_lineNumbers[i]})");
            read += n;
        }
        return new JsonlLine(_lineNumbers[i], _offsets[i], bytes);
    }

    public void Dispose() => _handle.Dispose();
}
