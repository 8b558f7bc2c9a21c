using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Backends.Cuda;
using Xunit.Abstractions;

namespace FineTuneLab.Trainer.Tests.Cuda;

/// <summary>
/// The kernels' arithmetic, checked without a GPU: the embedded .cu sources (exactly what NVRTC compiles) are built
/// for the CPU with Emulation/cuda_host_emulation.h (real threads per block, barriers, emulated warp shuffles) and
/// Emulation/check_kernels_emulated.py runs the model kernels on small inputs against PyTorch: norms, causal GQA
/// attention forward and backward, activations, cross-entropy, AdamW with the clipped gradient norm and conversions
/// bit for bit (the backend's own small kernels, RoPE, embedding and dropout among them, are BackendOpsEmulationTests').
/// </summary>
public sealed partial class KernelEmulationTests(ITestOutputHelper output)
{
    internal static string EmulationDirectory => Path.Combine(RepoPaths.Root, "tests", "FineTuneLab.Trainer.Tests", "Cuda", "Emulation");

    private static readonly string[] CompileFlags = ["-std=c++20", "-O2", "-fPIC", "-shared", "-pthread", "-Wall", "-Werror"];

    [Fact]
    public async Task Every_kernel_matches_pytorch_when_run_on_the_cpu()
    {
        var library = await BuildEmulatedKernelsAsync();
        var result = await ExternalProcess.RunAsync(ExternalProcess.DebianPython,
            [Path.Combine(EmulationDirectory, "check_kernels_emulated.py"), library], timeout: TimeSpan.FromMinutes(10));
        output.WriteLine(result.StdOut);
        output.WriteLine(result.StdErr);
        Assert.True(result.ExitCode == 0, $"kernel checks failed:\n{string.Join('\n', result.StdOut.Split('\n').Where(l => !l.StartsWith("ok", StringComparison.Ordinal)))}\n{result.StdErr}");
        var summary = Summary().Match(result.StdOut);
        Assert.True(summary.Success, "no summary line");
        Assert.Equal("0", summary.Groups[2].Value);
        Assert.True(int.Parse(summary.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= 160, summary.Value);
        foreach (var kernel in new[] { "attn_fwd", "attn_bwd", "rmsnorm_bwd", "layernorm_bwd", "swiglu_bwd", "gelu_tanh_bwd",
                     "ce_fused_rows_bf16 grad", "adamw", "grad norm", "convert_f32_to_bf16 bit-exact",
                     "attn_bwd f32 D=32 B=1 T=70 Hq=1 Hkv=1 window=20 dk", "attn_fwd f32 D=64 B=1 T=40 Hq=4 Hkv=2 Tq=1 out",
                     "attn_bwd f32 D=32 B=1 T=41 Hq=2 Hkv=1 segments window=9 Tq=5 dv", "rmsnorm_bwd_f32 dw partials summed in block order",
                     "attn_bwd f32 D=80 B=1 T=20 Hq=2 Hkv=1 dq", "geglu_fwd_f32", "geglu_bwd_bf16 dgate (in place)",
                     "rmsnorm_fwd_f32 y (1 + w)", "attn_fwd f32 D=256 B=1 T=13 Hq=2 Hkv=1 window=6 out", "attn_bwd f32 D=256 B=1 T=13 Hq=2 Hkv=1 window=6 dk",
                     "attn_bwd bf16 D=160 B=1 T=12 Hq=2 Hkv=2 segments Tq=3 dq", "rmsnorm_bwd_f32 dx (1 + w)", "rmsnorm_bwd_bf16 dw (1 + w)" })
            Assert.Contains("ok   " + kernel, result.StdOut);
    }

    /// <summary>Compiles the kernels and the emulation into a shared library, cached by the hash of every input.</summary>
    internal static async Task<string> BuildEmulatedKernelsAsync()
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, source) in KernelSources.All)
            files["kernels/" + name] = source;
        foreach (var name in new[] { "cuda_host_emulation.h", "cuda_host_emulation.cpp" })
            files["emulation/" + name] = await File.ReadAllTextAsync(Path.Combine(EmulationDirectory, name));
        var key = new StringBuilder(string.Join(' ', CompileFlags));
        foreach (var (name, text) in files)
            key.Append('\n').Append(name).Append('\n').Append(text.Length).Append('\n').Append(text);
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key.ToString())))[..24];
        var cached = Path.Combine(RepoPaths.Cache, "kernel-emulation", hash, "libftlemu.so");
        if (File.Exists(cached))
            return cached;

        var work = Directory.CreateTempSubdirectory("ftl-kernel-emulation-");
        try
        {
            foreach (var (name, text) in files)
            {
                var path = Path.Combine(work.FullName, name);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                await File.WriteAllTextAsync(path, text);
            }
            var kernels = files.Keys.Where(n => n.EndsWith(".cu", StringComparison.Ordinal)).Select(n => Path.Combine(work.FullName, n));
            var output = Path.Combine(work.FullName, "libftlemu.so");
            var emulation = Path.Combine(work.FullName, "emulation");
            List<string> args = [.. CompileFlags, "-include", Path.Combine(emulation, "cuda_host_emulation.h"),
                "-I" + emulation, "-I" + Path.Combine(work.FullName, "kernels"),
                "-x", "c++", .. kernels, "-x", "none", Path.Combine(emulation, "cuda_host_emulation.cpp"), "-o", output];
            (await ExternalProcess.RunAsync("g++", args, timeout: TimeSpan.FromMinutes(5))).EnsureSuccess("g++ (kernels for the CPU)");
            Directory.CreateDirectory(Path.GetDirectoryName(cached)!);
            var temp = cached + $".{Environment.ProcessId}.tmp";
            File.Copy(output, temp, overwrite: true);
            File.Move(temp, cached, overwrite: true);
            return cached;
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    [GeneratedRegex(@"^(\d+) passed, (\d+) failed$", RegexOptions.Multiline)]
    private static partial Regex Summary();
}
