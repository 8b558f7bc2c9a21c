using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>Turns scanned merges into the merge table: finds the ids of a, b and the merged token (a + b less the
/// continuing-subword prefix, as bpe/model.rs builds it). A helper thread starts on the chunks as soon as the
/// vocabulary is built, while the scanner is still reading later merges; the scanning thread joins in when it is done.
/// The table is then filled in rank order on a pool thread while the loader builds the other components; nothing in
/// the result depends on thread timing.</summary>
internal sealed class MergeResolver
{
    /// <summary>Prefetch distance, in merges.</summary>
    private const int Ahead = 16;

    private readonly ScannedMerges _merges;
    private readonly Task<Utf8Vocabulary> _vocabulary;
    private readonly MappedFile _file;
    private readonly int _prefixBytes;
    private readonly Task _helper;
    private int[]?[] _ids = new int[]?[64]; // per chunk: a, b, merged id of each merge
    private readonly object _idsLock = new();
    private int _nextChunk = -1;
    private int _firstBad = int.MaxValue;
    private volatile bool _abandoned;

    private MergeResolver(ScannedMerges merges, Task<Utf8Vocabulary> vocabulary, MappedFile file, int prefixBytes)
    {
        _merges = merges;
        _vocabulary = vocabulary;
        _file = file;
        _prefixBytes = prefixBytes;
        // A thread of its own: it blocks while it waits for the scanner.
        _helper = Task.Factory.StartNew(Work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>Starts resolving on a helper thread; chunks are taken as the scanner publishes them.</summary>
    public static MergeResolver Start(ScannedMerges merges, Task<Utf8Vocabulary> vocabulary, MappedFile file, int prefixBytes) =>
        new(merges, vocabulary, file, prefixBytes);

    /// <summary>Stops the helper (after a failed load, or before the file is unmapped) and waits for it.</summary>
    public void Abandon()
    {
        _abandoned = true;
        try { _helper.Wait(); }
        catch (AggregateException) { } // its error, if any, is the load's error and was thrown there
    }

    public int PrefixBytes => _prefixBytes;

    /// <summary>Called once the scan is complete: resolves the remaining chunks on this thread too, checks every merge
    /// was found, and starts filling the table.</summary>
    public Task<MergeTable> Finish(string file)
    {
        try { Work(); }
        catch
        {
            Abandon();
            throw;
        }
        _helper.GetAwaiter().GetResult();
        var count = _merges.TotalCount;
        if (_firstBad != int.MaxValue) throw NotInVocabulary(_vocabulary.GetAwaiter().GetResult(), file, _firstBad);
        return Task.Run(() => Fill(count));
    }

    private void Work()
    {
        var vocab = _vocabulary.GetAwaiter().GetResult();
        while (!_abandoned)
        {
            var chunk = Interlocked.Increment(ref _nextChunk);
            if (!_merges.WaitForChunk(chunk)) return;
            var (spans, length) = _merges.Chunk(chunk);
            var ids = GC.AllocateUninitializedArray<int>(3 * length);
            var bad = Resolve(vocab, spans, length, ids);
            lock (_idsLock)
            {
                if (chunk >= _ids.Length) Array.Resize(ref _ids, Math.Max(_ids.Length * 2, chunk + 1));
                _ids[chunk] = ids;
                if (bad >= 0) _firstBad = Math.Min(_firstBad, chunk * ScannedMerges.ChunkSize + bad);
            }
        }
    }

    /// <summary>Looks up one chunk: first every key's hash, then the lookups, each prefetching the slots of the merge
    /// <see cref="Ahead"/> places later, so that the cache misses (the cost of this phase) overlap instead of queueing.
    /// Returns the index of the first merge with a token not in the vocabulary, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Resolve(Utf8Vocabulary vocab, int[] spans, int length, int[] ids)
    {
        var hashes = ArrayPool<uint>.Shared.Rent(3 * length);
        try
        {
            var json = _file.Span;
            var prefix = _prefixBytes;
            for (var j = 0; j < length; j++)
            {
                var a = _merges.Span(json, spans[4 * j], spans[4 * j + 1]);
                var b = _merges.Span(json, spans[4 * j + 2], spans[4 * j + 3]);
                var aState = Utf8Vocabulary.HashStep(Utf8Vocabulary.HashSeed, a);
                hashes[3 * j] = Utf8Vocabulary.HashFinish(aState);
                hashes[3 * j + 1] = Utf8Vocabulary.HashFinish(Utf8Vocabulary.HashStep(Utf8Vocabulary.HashSeed, b));
                hashes[3 * j + 2] = Utf8Vocabulary.HashFinish(Utf8Vocabulary.HashStep(aState, b[Math.Min(prefix, b.Length)..]));
            }
            for (var k = 0; k < 3 * Math.Min(Ahead, length); k++) vocab.Prefetch(hashes[k]);
            for (var j = 0; j < length; j++)
            {
                if (j + Ahead < length)
                    for (var k = 3 * (j + Ahead); k < 3 * (j + Ahead) + 3; k++) vocab.Prefetch(hashes[k]);
                var a = _merges.Span(json, spans[4 * j], spans[4 * j + 1]);
                var b = _merges.Span(json, spans[4 * j + 2], spans[4 * j + 3]);
                if (!vocab.TryGetId(a, [], hashes[3 * j], out ids[3 * j]) || !vocab.TryGetId(b, [], hashes[3 * j + 1], out ids[3 * j + 1]) ||
                    !vocab.TryGetId(a, b[Math.Min(prefix, b.Length)..], hashes[3 * j + 2], out ids[3 * j + 2]))
                    return j;
            }
            return -1;
        }
        finally { ArrayPool<uint>.Shared.Return(hashes); }
    }

    /// <summary>Fills the table in rank order (a pair listed twice keeps its later rank), prefetching the entry of the
    /// merge <see cref="Ahead"/> places later.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private MergeTable Fill(int count)
    {
        var table = new MergeTable(count);
        for (var chunk = 0; chunk * ScannedMerges.ChunkSize < count; chunk++)
        {
            var ids = _ids[chunk]!;
            var rank0 = chunk * ScannedMerges.ChunkSize;
            for (var i = 0; i < Math.Min(ids.Length, 3 * Ahead); i += 3) table.Prefetch(ids[i], ids[i + 1]);
            for (var i = 0; i < ids.Length; i += 3)
            {
                if (i + 3 * Ahead < ids.Length) table.Prefetch(ids[i + 3 * Ahead], ids[i + 3 * Ahead + 1]);
                table.Set(ids[i], ids[i + 1], rank0 + i / 3, ids[i + 2]);
            }
        }
        return table;
    }

    private TokenizerFormatException NotInVocabulary(Utf8Vocabulary vocab, string file, int rank)
    {
        var (spans, _) = _merges.Chunk(rank / ScannedMerges.ChunkSize);
        var r = 4 * (rank % ScannedMerges.ChunkSize);
        var a = _merges.Span(_file.Span, spans[r], spans[r + 1]);
        var b = _merges.Span(_file.Span, spans[r + 2], spans[r + 3]);
        var rest = b[Math.Min(_prefixBytes, b.Length)..];
        var what = !vocab.TryGetId(a, out _) ? $"\"{Encoding.UTF8.GetString(a)}\""
            : !vocab.TryGetId(b, out _) ? $"\"{Encoding.UTF8.GetString(b)}\""
            : $"the merged token \"{Encoding.UTF8.GetString(a)}{Encoding.UTF8.GetString(rest)}\"";
        return new TokenizerFormatException(file, $"$.model.merges[{rank}]", $"{what} is not in the vocabulary");
    }
}
