using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends;

/// <summary>
/// The operand checks of <see cref="CheckedBackend"/>, for tensors that must live where the checked backend computes
/// (<see cref="Location"/>): each message names the operand and what it is.
/// </summary>
internal readonly struct Operands(MemoryLocation location)
{
    public MemoryLocation Location => location;

    /// <summary>Non-empty and in the backend's memory.</summary>
    public void Placed(Tensor t, string what)
    {
        if (t.IsEmpty) throw new ArgumentException($"{what} is empty");
        if (t.Location != location)
            throw new ArgumentException($"{what} lives on {t.Location}; this backend computes on {location} (allocate it with the backend's AllocateMemory)");
    }

    /// <summary>Non-empty and in host memory (the host side of an upload or download).</summary>
    public static void Host(Tensor t, string what)
    {
        if (t.IsEmpty) throw new ArgumentException($"{what} is empty");
        if (t.Location != MemoryLocation.Host) throw new ArgumentException($"{what} lives on {t.Location}; expected a host tensor");
    }

    public void Of(Tensor t, DType dtype, string what)
    {
        Placed(t, what);
        if (t.DType != dtype) throw new ArgumentException($"{what} must be {dtype}, got {t.DType} {t.Shape}");
    }

    public void F32(Tensor t, string what) => Of(t, DType.F32, what);
    public void I32(Tensor t, string what) => Of(t, DType.I32, what);

    /// <summary>F32 with the same element count and last dimension as <paramref name="reference"/>.</summary>
    public void Same(Tensor reference, Tensor t, string what)
    {
        F32(t, what);
        if (t.Count != reference.Count || t.Shape.Last != reference.Shape.Last)
            throw new ArgumentException($"{what} is {t.Shape}, expected the shape of {reference.Shape}");
    }

    /// <summary>F32 with exactly <paramref name="length"/> elements.</summary>
    public void Vector(Tensor t, long length, string what)
    {
        F32(t, what);
        if (t.Count != length) throw new ArgumentException($"{what} has {t.Count} elements ({t.Shape}), expected {length}");
    }

    /// <summary>An optional F32 vector: empty is allowed (a frozen parameter has no gradient), otherwise exactly <paramref name="length"/> elements.</summary>
    public void OptionalVector(Tensor t, long length, string what)
    {
        if (!t.IsEmpty) Vector(t, length, what);
    }

    /// <summary>The same dtype and element count on both sides of a copy.</summary>
    public static void SameElements(Tensor a, Tensor b, string what)
    {
        if (a.DType != b.DType || a.Count != b.Count)
            throw new ArgumentException($"{what} needs the same dtype and element count: {a} -> {b}");
    }
}
