using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;
using FineTuneLab.Trainer.Training;

namespace FineTuneLab.Trainer.Backends.Cuda.SelfTest;

/// <summary>
/// Whole LoRA training steps (forward, backward, clipping, AdamW) of a bench preset on two backends from the same
/// random weights, LoRA init and tokens: the losses of every step and the LoRA weights after the last must agree.
/// </summary>
public static class TrainingComparison
{
    /// <param name="qlora">Hold the block linear weights in NF4 (QLoRA), so the NF4 GEMM runs in every layer.</param>
    public static IReadOnlyList<SelfTestRow> Run(IBackend cpu, IBackend cuda, BenchPreset preset, int steps, bool qlora = false, ulong seed = 7)
    {
        var (cpuLosses, cpuLora) = Train(cpu, preset, steps, qlora, seed);
        var (gpuLosses, gpuLora) = Train(cuda, preset, steps, qlora, seed);
        var name = $"train {preset.Name} {(qlora ? "qlora" : "lora")}";
        var rows = new List<SelfTestRow>();
        for (var i = 0; i < steps; i++)
        {
            var abs = Math.Abs(cpuLosses[i] - gpuLosses[i]);
            var rel = abs / Math.Abs(cpuLosses[i]);
            rows.Add(new SelfTestRow($"{name} step {i + 1} loss", "F32", abs, rel, SelfTestTolerance.TrainingSteps,
                rel <= SelfTestTolerance.TrainingSteps, $"cpu {cpuLosses[i]:F5} cuda {gpuLosses[i]:F5}"));
        }
        // LoRA B starts at zero and moves by ~lr per step, so compare the update (weights after - A init is not zero).
        rows.Add(SelfTestCompare.Row($"{name} LoRA weights after {steps} steps", "F32", cpuLora, gpuLora, SelfTestTolerance.TrainingSteps)
            with { Note = $"{cpuLora.Length} values" });
        return rows;
    }

    private static (double[] Losses, float[] Lora) Train(IBackend backend, BenchPreset preset, int steps, bool qlora, ulong seed)
    {
        var lora = new LoraOptions(preset.Rank, preset.Alpha, LoraOptions.LlamaAllLinear);
        var options = new EngineOptions { Lora = lora, WeightDType = DType.F32, QuantizeBase = qlora, MaxBatch = preset.Batch, MaxSeq = preset.Seq, Seed = seed };
        using var model = new TransformerModel(preset.Model, backend, options, DType.F32);
        model.InitRandomWeights(seed);
        model.InitLora(seed + 1);
        // A learning rate large enough that LoRA B moves well above rounding noise within a few steps.
        using var step = new TrainingStep(model, new OptimizerSettings(1e-3f, WeightDecay: 0f, MaxGradNorm: 1f));
        var rng = new SplitMix64(seed + 2);
        var n = preset.Batch * preset.Seq;
        var ids = new int[n];
        for (var i = 0; i < n; i++) ids[i] = (int)(rng.Next() % (ulong)preset.Model.VocabSize);
        MicroBatch[] batch = [new MicroBatch(ids, ids, preset.Batch, preset.Seq)];
        var losses = new double[steps];
        for (var i = 0; i < steps; i++) losses[i] = step.Step(batch).Loss;
        var weights = new List<float>();
        foreach (var adapter in model.Adapters)
        {
            var (a, b) = model.ReadLora(adapter);
            weights.AddRange(a);
            weights.AddRange(b);
        }
        return (losses, [.. weights]);
    }
}
