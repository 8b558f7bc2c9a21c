namespace FineTuneLab.Trainer.Tensors;

/// <summary>Where a tensor's bytes live. Host tensors can be read through spans; device tensors only by a backend.</summary>
public enum MemoryLocation : byte
{
    Host,
    Cuda,
}
