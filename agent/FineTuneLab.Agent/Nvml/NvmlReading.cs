namespace FineTuneLab.Agent.Nvml;

/// <summary>
/// One NVML getter's answer: the value, or the status that explains its absence (NVML_ERROR_NOT_SUPPORTED on a GPU
/// without that sensor, NVML_ERROR_NO_PERMISSION in some containers, ...). Each reading stands alone, so one
/// unsupported getter never hides the others.
/// </summary>
public readonly record struct NvmlReading<T>(T? Value, NvmlReturn Status)
{
    public bool Ok => Status == NvmlReturn.NVML_SUCCESS;

    public static NvmlReading<T> Success(T value) => new(value, NvmlReturn.NVML_SUCCESS);

    public static NvmlReading<T> Failure(NvmlReturn status) => new(default, status);
}
