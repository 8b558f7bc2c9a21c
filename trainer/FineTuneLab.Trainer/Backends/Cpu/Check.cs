using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>Argument checks shared by the CPU kernels, with messages that name the operand.</summary>
internal static class Check
{
    public static void F32(Tensor t, string what)
    {
        if (t.IsEmpty) throw new ArgumentException($"{what} is empty");
        if (t.DType != DType.F32) throw new ArgumentException($"{what} must be F32, got {t.DType} {t.Shape}");
        Host(t, what);
    }

    public static void I32(Tensor t, string what)
    {
        if (t.IsEmpty) throw new ArgumentException($"{what} is empty");
        if (t.DType != DType.I32) throw new ArgumentException($"{what} must be I32, got {t.DType} {t.Shape}");
        Host(t, what);
    }

    public static void Host(Tensor t, string what)
    {
        if (t.Location != MemoryLocation.Host)
            throw new ArgumentException($"{what} lives on {t.Location}; the CPU backend needs host tensors");
    }

    /// <summary>F32 with the same element count and last dimension as <paramref name="reference"/>.</summary>
    public static void Same(Tensor reference, Tensor t, string what)
    {
        F32(t, what);
        if (t.Count != reference.Count || t.Shape.Last != reference.Shape.Last)
            throw new ArgumentException($"{what} is {t.Shape}, expected the shape of {reference.Shape}");
    }

    /// <summary>F32 with exactly <paramref name="length"/> elements.</summary>
    public static void Vector(Tensor t, long length, string what)
    {
        F32(t, what);
        if (t.Count != length)
            throw new ArgumentException($"{what} has {t.Count} elements ({t.Shape}), expected {length}");
    }
}
