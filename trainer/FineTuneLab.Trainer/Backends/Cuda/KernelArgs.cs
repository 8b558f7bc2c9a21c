using System.Runtime.CompilerServices;

namespace FineTuneLab.Trainer.Backends.Cuda;

/// <summary>The C type class of one kernel argument, as PTX sees it: .u64 (pointers, 64-bit integers), .u32/.s32, .f32.</summary>
public enum KernelArgKind : byte { Pointer, Int64, Int32, Float32 }

/// <summary>
/// A kernel's argument list built in place (no allocation): each argument's bytes in its own 8-byte slot, with its
/// kind, so a launch passes cuLaunchKernel one pointer per slot and a test can compare the list with the kernel's
/// signature without a GPU.
/// </summary>
public unsafe struct KernelArgs
{
    public const int Capacity = 20;

    private fixed long _values[Capacity];
    private fixed byte _kinds[Capacity];

    public int Count { get; private set; }

    public KernelArgs Ptr(nint devicePointer) => Put(devicePointer, KernelArgKind.Pointer);
    public KernelArgs Ptr(ulong devicePointer) => Put((long)devicePointer, KernelArgKind.Pointer);
    public KernelArgs I64(long value) => Put(value, KernelArgKind.Int64);
    public KernelArgs U64(ulong value) => Put((long)value, KernelArgKind.Int64);
    public KernelArgs I32(int value) => Put((uint)value, KernelArgKind.Int32);
    public KernelArgs F32(float value) => Put(BitConverter.SingleToUInt32Bits(value), KernelArgKind.Float32);

    public readonly KernelArgKind Kind(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index));
        return (KernelArgKind)_kinds[index];
    }

    public readonly long Raw(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index));
        return _values[index];
    }

    public static int SizeOf(KernelArgKind kind) => kind is KernelArgKind.Pointer or KernelArgKind.Int64 ? 8 : 4;

    /// <summary>Writes the address of each slot into <paramref name="pointers"/> (little-endian: a 4-byte value sits at its slot's start).</summary>
    internal void FillPointers(void** pointers)
    {
        for (var i = 0; i < Count; i++)
            pointers[i] = Unsafe.AsPointer(ref _values[i]);
    }

    private KernelArgs Put(long value, KernelArgKind kind)
    {
        if (Count == Capacity) throw new InvalidOperationException($"more than {Capacity} kernel arguments");
        _values[Count] = value;
        _kinds[Count] = (byte)kind;
        Count++;
        return this;
    }
}

/// <summary>One kernel launch: the kernel's extern "C" name, grid, block, dynamic shared memory and arguments.</summary>
public readonly record struct KernelCall(string Kernel, uint GridX, uint GridY, uint GridZ, uint Block, uint SharedBytes, KernelArgs Args)
{
    public static KernelCall Linear(string kernel, uint grid, uint block, KernelArgs args) => new(kernel, grid, 1, 1, block, 0, args);
}
