using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends;

/// <summary>What every backend's <see cref="IBackend.Convert"/> accepts, checked in one place so they refuse alike.</summary>
internal static class ConvertArguments
{
    public static void Check(Tensor source, Tensor destination)
    {
        if (source.Count != destination.Count)
            throw new ArgumentException($"convert needs the same element count: {source} -> {destination}");
        foreach (var t in new[] { source.DType, destination.DType })
            if (t is not (DType.F32 or DType.BF16 or DType.F16))
                throw new ArgumentException($"convert handles F32, BF16 and F16, not {t}");
    }
}
