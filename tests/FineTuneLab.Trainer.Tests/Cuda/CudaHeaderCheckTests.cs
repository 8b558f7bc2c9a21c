using FineTuneLab.NativeChecks;
using FineTuneLab.Trainer.Backends.Cuda;
using Xunit.Abstractions;

namespace FineTuneLab.Trainer.Tests.Cuda;

/// <summary>Our CUDA driver, cuBLAS, cuBLASLt and NVRTC declarations against CUDA 11.8's real headers (compiled with gcc).</summary>
public sealed class CudaHeaderCheckTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Bindings_match_the_cuda_cublas_cublaslt_and_nvrtc_headers()
    {
        var report = await NativeHeaderCheck.RunAsync(typeof(KernelSources).Assembly,
            ["cuda.h", "cublas_v2.h", "cublasLt.h", "nvrtc.h", "library_types.h"]);
        output.WriteLine($"checked {report.EnumMembers} enum constants, {report.Structs} structs, {report.Functions} functions");
        Assert.True(report.Mismatches.Count == 0, string.Join("\n", report.Mismatches));
        // Every import was found and checked, and the bindings cover what the brief asks for.
        var imports = NativeHeaderCheck.Imports(typeof(KernelSources).Assembly).Select(f => f.EntryPoint).ToHashSet();
        Assert.Equal(imports.Count, report.Functions);
        foreach (var required in new[] { "cuInit", "cuMemAlloc_v2", "cuMemAllocAsync", "cuLaunchKernel", "cuDevicePrimaryCtxRetain",
                     "cuEventElapsedTime", "cuModuleLoadData", "cublasGemmEx", "cublasGemmStridedBatchedEx", "cublasLtMatmul",
                     "nvrtcCompileProgram", "nvrtcGetCUBIN" })
            Assert.Contains(required, imports);
        Assert.True(report.EnumMembers > 150, $"only {report.EnumMembers} enum constants checked");
        Assert.Equal(3, report.Structs);
    }

    [Fact]
    public async Task Deliberately_wrong_bindings_are_each_reported()
    {
        var report = await NativeHeaderCheck.RunAsync(typeof(CudaHeaderCheckTests).Assembly, ["cuda.h"]);
        var all = string.Join("\n", report.Mismatches);
        output.WriteLine(all);
        Assert.Contains("WrongResult.CUDA_ERROR_OUT_OF_MEMORY = 3, the header says 2", all);
        Assert.Contains("WrongResult is 8 bytes, the C enum 4", all);
        Assert.Contains("struct WrongUuid is 8 bytes, the C struct 16", all);
        Assert.Contains("WrongAlloc → cuMemAlloc_v2(CUdeviceptr *, size_t): parameter 1 (bytesize: Int32) is 4 bytes, the C size_t 8", all);
        Assert.Contains("WrongArity → cuCtxSynchronize(): we pass 1 arguments, the header declares 0", all);
        Assert.Contains("WrongFloat → cuEventElapsedTime(float *, CUevent, CUevent): parameter 1 (start) passes a floating-point value", all);
        Assert.Contains("Missing: no declaration of cuNoSuchFunction", all);
        Assert.Equal(8, report.Mismatches.Count); // WrongFloat is wrong twice: size and register class
    }

    [Fact]
    public void Prototype_parser_reads_declarations_and_skips_calls()
    {
        var proto = NativeHeaderCheck.FindPrototype("typedef int CUresult; CUresult cuMemAlloc_v2(unsigned long long *dptr, unsigned long bytesize);", "cuMemAlloc_v2");
        Assert.NotNull(proto);
        Assert.Equal("CUresult", proto!.ReturnType);
        Assert.Equal(["unsigned long long *", "unsigned long"], proto.ParameterTypes);
        Assert.Null(NativeHeaderCheck.FindPrototype("int f(void) { return cuMissing(1); }", "cuMissing"));
        var arrays = NativeHeaderCheck.FindPrototype("int g(const char *name, unsigned int, int results[]);", "g");
        Assert.Equal(["const char *", "unsigned int", "int *"], arrays!.ParameterTypes);
    }
}
