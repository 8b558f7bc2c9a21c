using System.Globalization;
using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Training;

namespace FineTuneLab.Trainer.Backends.Cuda.SelfTest;

/// <summary>
/// The GPU self-test: device info, every op CUDA vs CPU, whole training steps CUDA vs CPU, then the bench presets on
/// the GPU. Exit code 0 when everything passes, 1 when something fails, 2 when CUDA cannot start here.
/// </summary>
public static class GpuSelfTest
{
    public const int ExitPass = 0, ExitFail = 1, ExitNoGpu = 2;

    public static int Run(TextWriter output, Action? cudaProbe = null, int trainingSteps = 3, int benchSteps = 5)
    {
        try
        {
            (cudaProbe ?? (() => CudaBackend.Probe()))();
        }
        catch (CudaUnavailableException e)
        {
            output.WriteLine($"gpu-selftest: {e.Message}");
            output.WriteLine("gpu-selftest: no CUDA GPU usable here; nothing was tested (exit 2)");
            return ExitNoGpu;
        }

        var system = CudaSystemInfo.Query();
        output.WriteLine($"driver CUDA {CudaSystemInfo.FormatCudaVersion(system.DriverVersion)} ({system.DriverLibrary}), NVRTC {system.NvrtcVersion}, cuBLAS {system.CublasVersion}");
        foreach (var d in system.Devices)
            output.WriteLine($"GPU {d.Ordinal}: {d.Name}, compute {d.ComputeCapability}, {d.MultiprocessorCount} SMs, {d.TotalMemoryBytes / (1 << 20):N0} MiB ({d.FreeMemoryBytes / (1 << 20):N0} free)");

        var rows = new List<SelfTestRow>();
        using var cpu = BackendFactory.Cpu();
        using (var strict = BackendFactory.Cuda(allowTf32: false))
            rows.AddRange(OpSuite.Run(cpu, strict, tf32: false).Select(r => r with { Op = r.Op + " [fp32 GEMM]" }).Where(r => r.Op.Contains("Gemm") || r.Op.Contains("LmHead")));
        using var checkedCuda = BackendFactory.Cuda(allowTf32: true);
        var cuda = BackendFactory.Find<CudaBackend>(checkedCuda)!;
        rows.AddRange(OpSuite.Run(cpu, checkedCuda, tf32: true));
        foreach (var qlora in new[] { false, true })
        {
            try
            {
                rows.AddRange(TrainingComparison.Run(cpu, checkedCuda, BenchPreset.Tiny, trainingSteps, qlora));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                rows.Add(new SelfTestRow($"train {BenchPreset.Tiny.Name} {(qlora ? "qlora" : "lora")}", "-", double.NaN, double.NaN, 0, false,
                    $"{e.GetType().Name}: {e.Message}"));
            }
        }
        PrintTable(output, rows);

        var benchOk = true;
        foreach (var (preset, qlora) in new[] { (BenchPreset.Tiny, false), (BenchPreset.Smol135, false), (BenchPreset.Smol135, true) })
        {
            try
            {
                var r = TrainingBenchmark.Run(checkedCuda, 0, preset, Tensors.DType.F32, benchSteps, qlora: qlora);
                var peak = CudaPeak.Tf32Gflops(cuda.Info);
                var mem = cuda.MemoryStats;
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"bench {r.Preset} {r.Method} on {cuda.Info.Name}: {r.TokensPerSecond:F0} tokens/s, step {r.StepMsMedian:F2} ms, {r.Gflops:F0} GFLOP/s, " +
                    $"MFU {r.Gflops / peak:P1} of ~{peak / 1000:F0} TFLOP/s TF32, loss {r.FirstLoss:F3} -> {r.LastLoss:F3}, " +
                    $"device memory peak {mem.PeakAllocatedBytes / (1 << 20):N0} MiB allocated / {mem.PeakReservedBytes / (1 << 20):N0} MiB reserved"));
                if (!double.IsFinite(r.LastLoss)) { benchOk = false; output.WriteLine($"bench {preset.Name}: FAIL (loss is not finite)"); }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                benchOk = false;
                output.WriteLine($"bench {preset.Name}{(qlora ? " qlora" : "")}: FAIL ({e.GetType().Name}: {e.Message})");
            }
        }

        var failed = rows.Count(r => !r.Pass);
        output.WriteLine(failed == 0 && benchOk
            ? $"gpu-selftest: PASS ({rows.Count} checks)"
            : $"gpu-selftest: FAIL ({failed} of {rows.Count} checks failed{(benchOk ? "" : ", bench failed")})");
        return failed == 0 && benchOk ? ExitPass : ExitFail;
    }

    public static void PrintTable(TextWriter output, IReadOnlyList<SelfTestRow> rows)
    {
        var width = Math.Max(10, rows.Max(r => r.Op.Length));
        output.WriteLine($"{"op".PadRight(width)}  {"dtype",-5}  {"max abs err",12}  {"max rel err",12}  {"tolerance",9}  result");
        foreach (var r in rows)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Op.PadRight(width)}  {r.DType,-5}  {r.MaxAbsError,12:E3}  {r.MaxRelError,12:E3}  {r.Tolerance,9:G3}  {(r.Pass ? "PASS" : "FAIL")}{(r.Note.Length > 0 ? "  " + r.Note : "")}"));
        }
    }
}
