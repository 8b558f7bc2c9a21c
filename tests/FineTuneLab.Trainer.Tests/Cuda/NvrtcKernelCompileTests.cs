using System.Text;
using System.Text.RegularExpressions;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Backends.Cuda;
using Xunit.Abstractions;

namespace FineTuneLab.Trainer.Tests.Cuda;

/// <summary>
/// Every embedded kernel file compiles through our NVRTC binding, with no warning, for the architectures the CUDA
/// backend targets: sm_80 (A100, and what Ampere/Ada cards run) and sm_90 (H100/H200). No GPU is needed.
/// </summary>
public sealed partial class NvrtcKernelCompileTests(ITestOutputHelper output)
{
    public static TheoryData<string, string> KernelFilesAndArchitectures()
    {
        var data = new TheoryData<string, string>();
        foreach (var file in KernelSources.KernelFiles)
            foreach (var arch in new[] { "sm_80", "sm_90" })
                data.Add(file, arch);
        return data;
    }

    [Theory]
    [MemberData(nameof(KernelFilesAndArchitectures))]
    public void Kernel_file_compiles_to_cubin_without_warnings(string file, string architecture)
    {
        var compiler = new NvrtcCompiler(cacheDirectory: "");
        var image = compiler.CompileEmbedded(file, ComputeCapability.Parse(architecture));

        Assert.False(image.FromCache);
        Assert.Contains($"--gpu-architecture={architecture}", image.Options);
        // A CUBIN is an ELF file whose symbol table names every extern "C" kernel of the source.
        Assert.True(image.Image.Length > 1000 && image.Image[0] == 0x7f && image.Image[1] == (byte)'E' && image.Image[2] == (byte)'L' && image.Image[3] == (byte)'F',
            $"{file} for {architecture} is not an ELF image");
        var symbols = Encoding.ASCII.GetString(image.Image);
        var kernels = KernelNames(file);
        Assert.NotEmpty(kernels);
        foreach (var kernel in kernels)
            Assert.True(symbols.Contains(kernel + "\0", StringComparison.Ordinal), $"{file} for {architecture}: kernel {kernel} is missing from the CUBIN");
        output.WriteLine($"{file} {architecture}: {image.Image.Length} bytes, {kernels.Count} kernels");
    }

    [Fact]
    public void Kernel_names_cover_every_operation_a_lora_step_needs()
    {
        var all = KernelSources.KernelFiles.SelectMany(KernelNames).ToHashSet();
        string[] required =
        [
            "rmsnorm_fwd_bf16", "rmsnorm_bwd_bf16", "layernorm_fwd_f32", "layernorm_bwd_f32", "rope_table_f32", "attn_fwd_bf16",
            "attn_bwd_delta_bf16", "attn_bwd_dq_bf16", "attn_bwd_dkdv_bf16", "attn_fwd_d256_bf16", "attn_bwd_dq_d256_bf16",
            "attn_bwd_dkdv_d256_f32", "geglu_fwd_bf16", "geglu_bwd_f32", "swiglu_fwd_bf16", "swiglu_bwd_bf16", "gelu_tanh_fwd_f32",
            "gelu_tanh_bwd_f32", "embed_lookup_bf16", "embed_backward_f32", "residual_add_bf16", "ce_fused_rows_f32", "ce_fused_rows_bf16",
            "adamw_f32", "sumsq_partials_f32", "convert_f32_to_bf16", "convert_bf16_to_f32", "convert_f32_to_f16", "convert_f16_to_f32",
            "dropout_mask_f32", "norm_param_grad_reduce", "nf4_gemm_f32", "nf4_gemm_bf16", "nf4_dequant_f32", "fill_f32", "axpy_f32", "bias_grad_f32",
        ];
        foreach (var name in required)
            Assert.Contains(name, all);
        // And each source's extern "C" kernels are all exported (a kernel lost to a macro typo would be missing here);
        // a name pasted from a capacity (attn_fwd##SUFFIX##_##NAME) counts by its stem.
        foreach (var file in KernelSources.KernelFiles)
        {
            var declared = Regex.Matches(KernelSources.Get(file), @"extern ""C"" __global__ void (?:__launch_bounds__\([^)]*\) )?([a-z_0-9]+?)(?:##[A-Z]+##)?(_##NAME)?\(")
                .Select(m => m.Groups[1].Value).Distinct().ToList();
            foreach (var stem in declared)
                Assert.True(KernelNames(file).Any(k => k == stem || k.StartsWith(stem + "_", StringComparison.Ordinal)), $"{file}: no exported kernel for {stem}");
        }
    }

    [Fact]
    public void Ptx_for_a_virtual_architecture_names_its_entry_points()
    {
        var image = new NvrtcCompiler(cacheDirectory: "").CompileEmbedded("norms.cu", new ComputeCapability(8, 0), KernelImageKind.Ptx);
        var ptx = Encoding.UTF8.GetString(image.Image).TrimEnd('\0');
        Assert.Contains(".target sm_80", ptx);
        Assert.Contains(".visible .entry rmsnorm_fwd_bf16(", ptx);
        Assert.Contains(".visible .entry layernorm_bwd_f16(", ptx);
    }

    private static readonly Lazy<Dictionary<string, List<string>>> EntryPoints = new(() =>
        KernelSources.KernelFiles.ToDictionary(f => f, f => PtxEntries(
            new NvrtcCompiler(Path.Combine(RepoPaths.Cache, "nvrtc")).CompileEmbedded(f, new ComputeCapability(8, 0), KernelImageKind.Ptx))));

    /// <summary>The kernels a file exports, as NVRTC itself lists them (the .entry directives of its PTX).</summary>
    internal static List<string> KernelNames(string file) => EntryPoints.Value[file];

    private static List<string> PtxEntries(CompiledKernelImage ptx) =>
        [.. PtxEntry().Matches(Encoding.UTF8.GetString(ptx.Image)).Select(m => m.Groups[1].Value)];

    [GeneratedRegex(@"\.visible \.entry ([A-Za-z_0-9]+)\(")]
    private static partial Regex PtxEntry();
}
