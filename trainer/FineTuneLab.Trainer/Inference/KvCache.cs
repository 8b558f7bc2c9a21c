using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Inference;

/// <summary>
/// Keys and values of every layer for one sequence, preallocated for <see cref="Capacity"/> positions: per layer
/// K and V [capacity, kvHeads · headDim] (RoPE already applied to K). Decoding appends rows; nothing is allocated later.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Arena _arena;

    public KvCache(IBackend backend, ModelConfig config, int capacity)
    {
        if (capacity <= 0) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "KV cache capacity must be positive");
        Capacity = capacity;
        long perTensor = Arena.Aligned((long)capacity * config.KvDim * sizeof(float));
        _arena = new Arena("kv cache", backend.AllocateMemory(Math.Max(2 * config.NumLayers * perTensor, NativeBuffer.Alignment)), ownsBlock: true);
        Keys = new Tensor[config.NumLayers];
        Values = new Tensor[config.NumLayers];
        for (int i = 0; i < config.NumLayers; i++)
        {
            Keys[i] = _arena.Allocate(DType.F32, capacity, config.KvDim);
            Values[i] = _arena.Allocate(DType.F32, capacity, config.KvDim);
        }
    }

    /// <summary>Bytes a cache of this capacity takes (memory planning).</summary>
    public static long BytesFor(ModelConfig config, int capacity) =>
        2L * config.NumLayers * Arena.Aligned((long)capacity * config.KvDim * sizeof(float));

    public int Capacity { get; }
    /// <summary>Positions filled so far.</summary>
    public int Length { get; internal set; }
    public Tensor[] Keys { get; }
    public Tensor[] Values { get; }
    public long Bytes => _arena.Capacity;

    public void Reset() => Length = 0;

    public void Dispose() => _arena.Dispose();
}
