namespace FineTuneLab.Trainer.Backends.Cuda;

/// <summary>The CUDA backend cannot start here: no driver, no GPU, or a library missing. The message says what to do.</summary>
public sealed class CudaUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
