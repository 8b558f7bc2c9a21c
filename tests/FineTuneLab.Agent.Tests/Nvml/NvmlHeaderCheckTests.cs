using FineTuneLab.Agent.Nvml;
using FineTuneLab.NativeChecks;
using Xunit.Abstractions;

namespace FineTuneLab.Agent.Tests.Nvml;

/// <summary>Our NVML declarations against nvml.h (values, struct layouts, every entry point's parameter sizes).</summary>
public sealed class NvmlHeaderCheckTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Bindings_match_nvml_h()
    {
        var report = await NativeHeaderCheck.RunAsync(typeof(NvmlSampler).Assembly, ["nvml.h", "signal.h"]); // signal.h: the trainer supervisor's kill(2)
        output.WriteLine($"checked {report.EnumMembers} constants, {report.Structs} structs, {report.Functions} functions");
        Assert.True(report.Mismatches.Count == 0, string.Join("\n", report.Mismatches));
        Assert.Equal(3, report.Structs);
        Assert.True(report.EnumMembers >= 40, $"only {report.EnumMembers} constants checked");
        var entryPoints = NativeHeaderCheck.Imports(typeof(NvmlSampler).Assembly).Select(f => f.EntryPoint).ToList();
        // The versioned exports, not the names nvml.h #defines away.
        Assert.Contains("nvmlInit_v2", entryPoints);
        Assert.Contains("nvmlDeviceGetCount_v2", entryPoints);
        Assert.Contains("nvmlDeviceGetHandleByIndex_v2", entryPoints);
        Assert.DoesNotContain("nvmlInit", entryPoints);
        Assert.Equal(entryPoints.Count, report.Functions); // every entry point was found in nvml.h and checked
    }
}
