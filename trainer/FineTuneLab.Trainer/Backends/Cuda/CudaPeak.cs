namespace FineTuneLab.Trainer.Backends.Cuda;

/// <summary>
/// Nominal dense TF32 tensor-core peak of a GPU, for MFU: SMs × clock × TF32 FLOPs per SM per clock of the
/// architecture (A100: 1024, H100/H200: 2048; consumer Ampere/Ada: 512). A rough figure: boost clocks vary.
/// </summary>
public static class CudaPeak
{
    public static double Tf32Gflops(CudaDeviceInfo device)
    {
        var perSmPerClock = device.ComputeCapability switch
        {
            { Major: >= 9 } => 2048,
            { Major: 8, Minor: 0 } => 1024,
            { Major: 8 } => 512,
            _ => 256,
        };
        return device.MultiprocessorCount * (device.ClockRateKHz / 1e6) * perSmPerClock;
    }
}
