using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cuda;

/// <summary>Argument checks of the CUDA backend, with messages that name the operand.</summary>
internal static class CudaCheck
{
    public static void Device(Tensor t, string what)
    {
        if (t.IsEmpty) throw new ArgumentException($"{what} is empty");
        if (t.Location != MemoryLocation.Cuda)
            throw new ArgumentException($"{what} lives on {t.Location}; the CUDA backend needs tensors in its own memory (AllocateMemory)");
    }

    public static void Host(Tensor t, string what)
    {
        if (t.IsEmpty) throw new ArgumentException($"{what} is empty");
        if (t.Location != MemoryLocation.Host)
            throw new ArgumentException($"{what} lives on {t.Location}; expected a host tensor");
    }

    public static void F32(Tensor t, string what) => Of(t, DType.F32, what);
    public static void I32(Tensor t, string what) => Of(t, DType.I32, what);

    public static void Of(Tensor t, DType dtype, string what)
    {
        Device(t, what);
        if (t.DType != dtype) throw new ArgumentException($"{what} must be {dtype}, got {t.DType} {t.Shape}");
    }

    /// <summary>F32 with the same element count and last dimension as <paramref name="reference"/>.</summary>
    public static void Same(Tensor reference, Tensor t, string what)
    {
        F32(t, what);
        if (t.Count != reference.Count || t.Shape.Last != reference.Shape.Last)
            throw new ArgumentException($"{what} is {t.Shape}, expected the shape of {reference.Shape}");
    }

    public static void Vector(Tensor t, long length, string what)
    {
        F32(t, what);
        if (t.Count != length) throw new ArgumentException($"{what} has {t.Count} elements ({t.Shape}), expected {length}");
    }

    /// <summary>An optional F32 vector: empty is allowed (frozen parameter), otherwise exactly <paramref name="length"/> elements.</summary>
    public static void OptionalVector(Tensor t, long length, string what)
    {
        if (!t.IsEmpty) Vector(t, length, what);
    }

    public static int ToInt(long value, string what) =>
        value is >= 0 and <= int.MaxValue ? (int)value : throw new ArgumentException($"{what} ({value}) exceeds the CUDA kernels' 32-bit index range");
}
