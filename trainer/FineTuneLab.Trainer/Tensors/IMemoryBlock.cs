namespace FineTuneLab.Trainer.Tensors;

/// <summary>
/// One contiguous allocation that tensors view: host memory (<see cref="NativeBuffer"/>) or device memory
/// owned by a GPU backend. The pointer is a host address or a device address according to <see cref="Location"/>.
/// </summary>
public interface IMemoryBlock : IDisposable
{
    nint Pointer { get; }
    long Bytes { get; }
    MemoryLocation Location { get; }
}
