namespace FineTuneLab.Trainer.Backends.Cuda;

/// <summary>A CUDA driver, cuBLAS or NVRTC call failed; the message names the call and the library's error name.</summary>
public sealed class CudaException(string library, string call, int code, string errorName, string description)
    : Exception($"{call} failed: {errorName} ({code}){(description.Length > 0 ? ": " + description : "")} [{library}]")
{
    public string Library { get; } = library;
    public string Call { get; } = call;
    public int Code { get; } = code;
    public string ErrorName { get; } = errorName;
}
