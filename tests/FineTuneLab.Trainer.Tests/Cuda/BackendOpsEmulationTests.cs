using System.Text.RegularExpressions;
using FineTuneLab.TestSupport;
using Xunit.Abstractions;

namespace FineTuneLab.Trainer.Tests.Cuda;

/// <summary>
/// The CUDA backend's own small kernels (elementwise.cu: fill, scale, axpy, bias and its gradient; embedding.cu:
/// lookup and gradient; rope.cu: table rotary embedding; dropout.cu: the shared dropout mask; nf4_dequant.cu and the
/// NF4 GEMM) run on the CPU through the same emulation as the model
/// kernels and compared with PyTorch / NumPy (Emulation/check_backend_ops_emulated.py).
/// </summary>
public sealed partial class BackendOpsEmulationTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Backend_op_kernels_match_their_references_when_run_on_the_cpu()
    {
        var library = await KernelEmulationTests.BuildEmulatedKernelsAsync();
        var result = await ExternalProcess.RunAsync(ExternalProcess.DebianPython,
            [Path.Combine(KernelEmulationTests.EmulationDirectory, "check_backend_ops_emulated.py"), library], timeout: TimeSpan.FromMinutes(5));
        output.WriteLine(result.StdOut);
        output.WriteLine(result.StdErr);
        Assert.True(result.ExitCode == 0, $"backend op kernel checks failed:\n{result.StdOut}\n{result.StdErr}");
        var summary = Summary().Match(result.StdOut);
        Assert.True(summary.Success, "no summary line");
        Assert.Equal("0", summary.Groups[2].Value);
        Assert.True(int.Parse(summary.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= 19, summary.Value);
        foreach (var name in new[] { "nf4_dequant_f32", "nf4_dequant_bf16", "dropout_mask_f32", "rope_table_f32 inverse", "embed_backward_f32", "bias_grad_f32",
                     "nf4_gemm_f32 I . W is W bit for bit", "nf4_gemm_f32 forward x W^T", "nf4_gemm_f32 input gradient dy W", "nf4_gemm_bf16 forward" })
            Assert.Contains("ok   " + name, result.StdOut);
    }

    [GeneratedRegex(@"(\d+) passed, (\d+) failed")]
    private static partial Regex Summary();
}
