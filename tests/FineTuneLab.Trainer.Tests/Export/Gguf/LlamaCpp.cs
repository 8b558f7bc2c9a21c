using System.Runtime.InteropServices;
using LLama;
using LLama.Common;
using LLama.Native;

namespace FineTuneLab.Trainer.Tests.Export.Gguf;

/// <summary>
/// llama.cpp (LLamaSharp's CPU build) as the reference peer for our GGUF files: loads a file, optionally applies a
/// LoRA GGUF, and returns the next-token logits at every position of a token sequence, or a greedy continuation.
/// </summary>
internal sealed class LlamaCpp : IDisposable
{
    private static readonly Lock InitLock = new();
    private static bool _initialised;
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;
    private readonly LoraAdapter? _lora;

    /// <summary>Selects and loads llama.cpp's native libraries once per process (quiet: only its errors are shown).</summary>
    public static void EnsureLoaded()
    {
        lock (InitLock)
        {
            if (_initialised) return;
            // llama.cpp logs every tensor on load; keep only its errors in the test output
            NativeLibraryConfig.All.WithLogCallback((level, message) =>
            {
                if (level == LLamaLogLevel.Error) Console.Error.Write(message);
            });
            NativeApi.llama_empty_call();
            _initialised = true;
        }
    }

    public LlamaCpp(string ggufPath, string? loraPath = null, uint contextSize = 128)
    {
        EnsureLoaded();
        // an f32 KV cache (llama.cpp's default is f16) and plain attention, so what is compared is our file, not the runtime's rounding
        var p = new ModelParams(ggufPath)
        {
            ContextSize = contextSize, BatchSize = contextSize, UBatchSize = contextSize, GpuLayerCount = 0, Threads = 2,
            TypeK = GGMLType.GGML_TYPE_F32, TypeV = GGMLType.GGML_TYPE_F32, FlashAttention = false,
        };
        _weights = LLamaWeights.LoadFromFile(p);
        _context = _weights.CreateContext(p);
        if (loraPath is not null)
        {
            _lora = _weights.NativeHandle.LoadLoraFromFile(loraPath);
            _context.NativeHandle.SetLoraAdapters([(_lora, 1f)]);
        }
    }

    public int VocabSize => _weights.Vocab.Count;

    public string? Metadata(string key) => _weights.Metadata.TryGetValue(key, out var v) ? v : null;

    /// <summary>Logits [T, V] after each token of <paramref name="ids"/> (one batch from position 0, a fresh cache).</summary>
    public float[] Logits(int[] ids)
    {
        _context.NativeHandle.MemoryClear(true);
        var batch = new LLamaBatch();
        for (int i = 0; i < ids.Length; i++) batch.Add(ids[i], i, LLamaSeqId.Zero, true);
        var r = _context.Decode(batch);
        if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode: {r}");
        int v = VocabSize;
        var all = new float[ids.Length * v];
        for (int i = 0; i < ids.Length; i++) _context.NativeHandle.GetLogitsIth(i).CopyTo(all.AsSpan(i * v, v));
        return all;
    }

    /// <summary>Greedy continuation: the prompt, then one token at a time through the KV cache.</summary>
    public int[] Greedy(int[] prompt, int newTokens)
    {
        _context.NativeHandle.MemoryClear(true);
        var batch = new LLamaBatch();
        for (int i = 0; i < prompt.Length; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
        var output = new List<int>();
        int pos = prompt.Length;
        for (int n = 0; n < newTokens; n++)
        {
            var r = _context.Decode(batch);
            if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode: {r}");
            var logits = _context.NativeHandle.GetLogitsIth(batch.TokenCount - 1);
            int best = 0;
            for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
            output.Add(best);
            batch.Clear();
            batch.Add(best, pos++, LLamaSeqId.Zero, true);
        }
        return output.ToArray();
    }

    public int[] Tokenize(string text, bool addBos) => _context.Tokenize(text, addBos, special: true).Select(t => (int)t).ToArray();

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }
}

/// <summary>ggml's own encoders (libggml-base from the same package), for byte-for-byte checks of ours.</summary>
internal static partial class GgmlNative
{
    private const string Lib = "ggml-base";

    [LibraryImport(Lib, EntryPoint = "ggml_quantize_chunk")]
    private static unsafe partial nuint QuantizeChunk(int type, float* src, void* dst, long start, long nrows, long nPerRow, float* imatrix);

    [LibraryImport(Lib, EntryPoint = "ggml_row_size")]
    private static partial nuint RowSize(int type, long ne);

    static GgmlNative()
    {
        // make sure LLamaSharp has resolved and loaded its native libraries (it picks the build for this CPU)
        LlamaCpp.EnsureLoaded();
        NativeLibrary.SetDllImportResolver(typeof(GgmlNative).Assembly, (name, _, _) =>
        {
            if (name != Lib) return IntPtr.Zero;
            var dir = NativeLibraryPaths.Loaded ?? throw new InvalidOperationException("llama.cpp is not loaded");
            return NativeLibrary.Load(Path.Combine(dir, "libggml-base.so"));
        });
    }

    public static unsafe byte[] Quantize(int ggmlType, float[] values, long rowLength)
    {
        long rows = values.Length / rowLength;
        var bytes = new byte[(long)RowSize(ggmlType, rowLength) * rows];
        fixed (float* s = values)
        fixed (byte* d = bytes)
            QuantizeChunk(ggmlType, s, d, 0, rows, rowLength, null);
        return bytes;
    }
}

/// <summary>Where the process loaded llama.cpp from (the folder of libllama.so in the process's maps).</summary>
internal static class NativeLibraryPaths
{
    public static string? Loaded =>
        File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault())
            .FirstOrDefault(p => p is not null && p.EndsWith("/libllama.so", StringComparison.Ordinal)) is { } lib ? Path.GetDirectoryName(lib) : null;
}
