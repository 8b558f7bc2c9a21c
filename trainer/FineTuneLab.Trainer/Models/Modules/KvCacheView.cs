using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Models.Modules;

/// <summary>
/// One layer's slice of a KV cache as its forward sees it: K and V [capacity, kvHeads · headDim] (RoPE already applied
/// to K) with <see cref="Offset"/> positions filled before the chunk being run. The default (empty) view is a forward
/// without a cache: training and evaluation.
/// </summary>
public readonly record struct KvCacheView(Tensor Keys, Tensor Values, int Offset)
{
    public bool IsEmpty => Keys.IsEmpty;
}
