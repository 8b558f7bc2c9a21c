using FineTuneLab.Trainer.Backends.Cuda;

namespace FineTuneLab.Trainer.Tests.Cuda;

public sealed class NvrtcCompilerTests : IDisposable
{
    private readonly DirectoryInfo _cache = Directory.CreateTempSubdirectory("ftl-nvrtc-cache-");

    public void Dispose() => _cache.Delete(recursive: true);

    private const string Kernel = """
        #include "ftl_common.cuh"
        extern "C" __global__ void scale_bf16(bf16* x, float s, long long n) { FTL_GRID_STRIDE(i, n) x[i] = from_f32<bf16>(to_f32(x[i]) * s); }
        """;

    [Fact]
    public void Nvrtc_is_11_2_or_newer_and_targets_sm_80_and_sm_90()
    {
        var (major, minor) = NvrtcCompiler.Version;
        Assert.True(major > 11 || (major == 11 && minor >= 2), $"NVRTC {major}.{minor}");
        Assert.Contains(80, NvrtcCompiler.SupportedArchitectures);
        Assert.Contains(90, NvrtcCompiler.SupportedArchitectures);
    }

    [Fact]
    public void Second_compile_comes_from_the_disk_cache_and_a_changed_input_does_not()
    {
        var compiler = new NvrtcCompiler(_cache.FullName, driverVersion: 12040);
        var first = compiler.Compile("scale.cu", Kernel, KernelSources.Headers, new ComputeCapability(8, 0));
        var second = compiler.Compile("scale.cu", Kernel, KernelSources.Headers, new ComputeCapability(8, 0));
        Assert.False(first.FromCache);
        Assert.True(second.FromCache);
        Assert.Equal(first.Image, second.Image);
        Assert.Equal(first.CacheKey, second.CacheKey);
        Assert.True(File.Exists(Path.Combine(_cache.FullName, first.CacheKey + ".cubin")));
        Assert.Empty(_cache.GetFiles("*.tmp"));

        var otherArch = compiler.Compile("scale.cu", Kernel, KernelSources.Headers, new ComputeCapability(9, 0));
        var otherSource = compiler.Compile("scale.cu", Kernel + "\n", KernelSources.Headers, new ComputeCapability(8, 0));
        var otherDriver = new NvrtcCompiler(_cache.FullName, driverVersion: 12020).Compile("scale.cu", Kernel, KernelSources.Headers, new ComputeCapability(8, 0));
        var ptx = compiler.Compile("scale.cu", Kernel, KernelSources.Headers, new ComputeCapability(8, 0), KernelImageKind.Ptx);
        Assert.All([otherArch, otherSource, otherDriver, ptx], image => Assert.False(image.FromCache));
        Assert.Equal(5, new[] { first, otherArch, otherSource, otherDriver, ptx }.Select(i => i.CacheKey).Distinct().Count());
    }

    [Fact]
    public void A_warning_fails_the_compile_with_the_log()
    {
        const string source = """extern "C" __global__ void k(float* x) { int unused = 3; x[0] = 1.0f; }""";
        var e = Assert.Throws<NvrtcCompilationException>(() =>
            new NvrtcCompiler("").Compile("warn.cu", source, [], new ComputeCapability(8, 0)));
        Assert.Contains("warnings are errors", e.Message);
        Assert.Contains("warn.cu(1): warning", e.Log);
        Assert.Contains("unused", e.Log);
    }

    [Fact]
    public void An_error_fails_the_compile_naming_file_and_line()
    {
        const string source = "extern \"C\" __global__ void k(float* x)\n{\n    x[0] = undefined_name;\n}\n";
        var e = Assert.Throws<NvrtcCompilationException>(() =>
            new NvrtcCompiler("").Compile("broken.cu", source, [], new ComputeCapability(8, 0)));
        Assert.Contains("NVRTC_ERROR_COMPILATION", e.Message);
        Assert.Contains("broken.cu(3): error", e.Log);
        Assert.Contains("undefined_name", e.Log);
    }

    [Fact]
    public void An_architecture_nvrtc_does_not_know_is_refused_clearly()
    {
        var e = Assert.Throws<NotSupportedException>(() =>
            new NvrtcCompiler("").Compile("k.cu", Kernel, KernelSources.Headers, new ComputeCapability(1, 0)));
        Assert.Contains("cannot compile for sm_10", e.Message);
        Assert.Contains("sm_80", e.Message);
    }

    [Theory]
    [InlineData("8.0", 8, 0)]
    [InlineData("sm_86", 8, 6)]
    [InlineData("compute_90", 9, 0)]
    [InlineData("89", 8, 9)]
    public void Compute_capability_parses_the_usual_spellings(string text, int major, int minor) =>
        Assert.Equal(new ComputeCapability(major, minor), ComputeCapability.Parse(text));

    [Fact]
    public void Compute_capability_rejects_garbage() =>
        Assert.Throws<FormatException>(() => ComputeCapability.Parse("ampere"));
}
