using System.Text.Json;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Planning;
using FineTuneLab.Trainer.Tensors;
using FineTuneLab.Trainer.Training;

namespace FineTuneLab.Trainer.Tests.Planning;

public sealed class MemoryPlanTests
{
    /// <summary>The plan's peak against the peak RSS (VmHWM) of real training steps in a child process (ftl-train bench).</summary>
    [Theory]
    [InlineData("fp32")]
    [InlineData("bf16")]
    public async Task Planned_peak_is_within_15_percent_of_the_measured_peak_rss(string weights)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "ftl-train.dll");
        var run = await ExternalProcess.RunAsync("dotnet", [cli, "bench", "--preset", "tiny", "--steps", "2", "--threads", "2", "--weights", weights, "--json"]);
        run.EnsureSuccess("ftl-train bench");
        var measured = JsonDocument.Parse(run.StdOut.Trim().Split('\n')[^1]).RootElement.GetProperty("peak_rss_mb").GetDouble() * 1048576;

        var preset = BenchPreset.Tiny;
        var engine = new EngineOptions
        {
            Lora = new LoraOptions(preset.Rank, preset.Alpha, LoraOptions.LlamaAllLinear), MaxBatch = preset.Batch, MaxSeq = preset.Seq,
        };
        var plan = MemoryPlanner.Plan(preset.Model, engine, weights == "bf16" ? DType.BF16 : DType.F32, threads: 2, weightFileBytes: 0);
        double ratio = plan.PeakBytes / measured;
        Assert.True(ratio is > 0.85 and < 1.15, $"planned {plan.PeakBytes / 1048576.0:F1} MiB, measured {measured / 1048576.0:F1} MiB (ratio {ratio:F3})");
    }

    [Fact]
    public void The_plan_uses_the_engine_s_own_arena_sizes()
    {
        var preset = BenchPreset.Tiny;
        var engine = new EngineOptions { Lora = new LoraOptions(8, 16, LoraOptions.LlamaAllLinear), MaxBatch = 2, MaxSeq = 64 };
        var plan = MemoryPlanner.Plan(preset.Model, engine, DType.BF16, threads: 1, weightFileBytes: 1000);
        using var backend = new Trainer.Backends.Cpu.CpuBackend(1);
        using var model = new TransformerModel(preset.Model, backend, engine, DType.BF16);
        Assert.Equal(model.FrozenBytes, plan.Bytes("frozen weights"));
        Assert.Equal(model.TrainableBytes, plan.Bytes("trainable parameters"));
        Assert.Equal(model.ActivationBytes, plan.Bytes("activations"));
        Assert.Equal(2 * Arena.Aligned(model.TrainableCount * 4), plan.Bytes("optimizer state"));
        // longer sequences need more activation memory, bf16 weights half the frozen matrices
        var longer = MemoryPlanner.Plan(preset.Model, engine with { MaxSeq = 128 }, DType.BF16, 1, 0);
        Assert.True(longer.Bytes("activations") > plan.Bytes("activations") * 1.9);
        var fp32 = MemoryPlanner.Plan(preset.Model, engine, DType.F32, 1, 0);
        Assert.InRange(fp32.Bytes("frozen weights") / (double)plan.Bytes("frozen weights"), 1.9, 2.01);
    }
}
