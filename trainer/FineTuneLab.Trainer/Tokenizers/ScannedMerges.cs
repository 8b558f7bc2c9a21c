using System.Runtime.CompilerServices;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>The merges of tokenizer.json as byte spans, in rank order, published a chunk at a time while the scanner
/// is still reading the file, so that <see cref="MergeResolver"/> can look chunks up on another thread meanwhile. Each
/// side of a merge points into the file's bytes, or into a side buffer for the few strings that had JSON escapes.
/// Storage is in fixed chunks, so a reader never sees an array being reallocated.</summary>
internal sealed class ScannedMerges
{
    public const int ChunkSize = 8192;

    private int[][] _chunks = new int[64][]; // per merge: a offset, a length, b offset, b length (offset < 0: ~offset in _side)
    private byte[] _side = new byte[256];
    private int _sideUsed;
    private int _count;
    private int _publishedChunks;
    private bool _complete;
    private readonly object _signal = new();

    /// <summary>Merges scanned so far (the scanning thread's view).</summary>
    public int Count => _count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(int aOffset, int aLength, int bOffset, int bLength)
    {
        var chunk = _count / ChunkSize;
        var at = 4 * (_count % ChunkSize);
        if (at == 0) NewChunk(chunk);
        var spans = _chunks[chunk];
        spans[at] = aOffset;
        spans[at + 1] = aLength;
        spans[at + 2] = bOffset;
        spans[at + 3] = bLength;
        if (++_count % ChunkSize == 0) Publish(chunk + 1, complete: false);
    }

    private void NewChunk(int chunk)
    {
        if (chunk == _chunks.Length) Array.Resize(ref _chunks, _chunks.Length * 2);
        _chunks[chunk] = GC.AllocateUninitializedArray<int>(4 * ChunkSize);
    }

    /// <summary>Room for an unescaped string of up to <paramref name="maxLength"/> bytes; returns the offset to Add with
    /// (after <see cref="CommitSide"/>).</summary>
    public Span<byte> SideBuffer(int maxLength)
    {
        if (_side.Length - _sideUsed < maxLength) Array.Resize(ref _side, Math.Max(_side.Length * 2, _sideUsed + maxLength));
        return _side.AsSpan(_sideUsed);
    }

    /// <summary>Keeps <paramref name="length"/> bytes written into the side buffer; returns their encoded offset.</summary>
    public int CommitSide(int length)
    {
        var offset = ~_sideUsed;
        _sideUsed += length;
        return offset;
    }

    /// <summary>The scanner is done (or failed: then readers stop too); the last, partial chunk becomes visible.</summary>
    public void Complete() => Publish((_count + ChunkSize - 1) / ChunkSize, complete: true);

    private void Publish(int chunks, bool complete)
    {
        lock (_signal)
        {
            _publishedChunks = chunks;
            _complete |= complete;
            Monitor.PulseAll(_signal);
        }
    }

    /// <summary>Blocks until chunk <paramref name="chunk"/> is published; false when the scan ended without it.</summary>
    public bool WaitForChunk(int chunk)
    {
        lock (_signal)
        {
            while (_publishedChunks <= chunk && !_complete) Monitor.Wait(_signal);
            return _publishedChunks > chunk;
        }
    }

    /// <summary>After <see cref="Complete"/>: the number of merges.</summary>
    public int TotalCount
    {
        get { lock (_signal) return _count; }
    }

    /// <summary>The span array of a published chunk and the number of merges in it.</summary>
    public (int[] Spans, int Length) Chunk(int chunk)
    {
        int[] spans;
        int total;
        lock (_signal)
        {
            spans = _chunks[chunk];
            total = _complete ? _count : _publishedChunks * ChunkSize;
        }
        return (spans, Math.Min(ChunkSize, total - chunk * ChunkSize));
    }

    /// <summary>A side of a merge (call after the chunk holding it was published).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<byte> Span(ReadOnlySpan<byte> json, int offset, int length) =>
        offset >= 0 ? json.Slice(offset, length) : Volatile.Read(ref _side).AsSpan(~offset, length);
}
