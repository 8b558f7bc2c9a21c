using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Models.Modules;

/// <summary>
/// Where a model's construction carves its tensors from. The model is built twice: once against
/// <see cref="SizeCounter"/>s to learn each region's size, then against arenas of exactly that size.
/// </summary>
public interface ITensorAllocator
{
    Tensor Allocate(DType dtype, TensorShape shape);
}

/// <summary>Counts the aligned bytes a sequence of allocations takes; the tensors it hands out point nowhere usable.</summary>
public sealed class SizeCounter : ITensorAllocator
{
    public long Bytes { get; private set; }

    public Tensor Allocate(DType dtype, TensorShape shape)
    {
        Bytes += Arena.Aligned(shape.Count * dtype.SizeOf());
        // a non-zero placeholder address so "is this tensor present" checks behave as in the real build
        return new Tensor(NativeBuffer.Alignment, dtype, shape);
    }
}

public sealed class ArenaAllocator(Arena arena) : ITensorAllocator
{
    public Arena Arena { get; } = arena;
    public Tensor Allocate(DType dtype, TensorShape shape) => Arena.Allocate(dtype, shape);
}
