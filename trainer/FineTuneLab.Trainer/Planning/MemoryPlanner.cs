using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Planning;

/// <summary>
/// Predicts a run's memory from the engine's own layout (<see cref="TransformerModel.MeasureArenas"/> lays the model
/// out against counters, allocating nothing) plus what the CPU kernels reserve and what loading holds for a moment.
/// </summary>
public static class MemoryPlanner
{
    /// <summary>
    /// Resident memory of ftl-train itself before any model memory: the .NET runtime, JIT-compiled code, the managed
    /// heap of a training process and the worker threads' stacks. Measured (VmHWM) on Linux x64 with .NET 10:
    /// `ftl-train version` alone peaks at 29 MiB; a training process's share beyond its arenas and workspace is ~48 MiB.
    /// </summary>
    public const long RuntimeOverheadBytes = 48L << 20;

    public static MemoryPlan Plan(ModelConfig config, EngineOptions engine, DType matrixDType, int threads, long weightFileBytes)
    {
        var (frozen, trainable, grads, acts) = TransformerModel.MeasureArenas(config, engine, matrixDType);
        long optimizer = trainable > NativeBuffer.Alignment ? 2 * Arena.Aligned(trainable) : 0;
        var dtype = engine.FullFineTune ? DType.F32 : matrixDType;
        var list = new List<MemoryComponent>
        {
            new("runtime overhead", RuntimeOverheadBytes, MemoryPhase.Always, ".NET runtime, JIT code, managed heap, thread stacks (measured)"),
            new("frozen weights", frozen, MemoryPhase.Always, $"matrices in {dtype}, norms/biases F32, RoPE tables"),
            new("trainable parameters", trainable, MemoryPhase.Always, engine.FullFineTune ? "every weight, F32" : $"LoRA A and B, F32"),
            new("gradients", grads, MemoryPhase.Always, "same layout as the trainable parameters"),
            new("activations", acts, MemoryPhase.Always, $"micro-batch {engine.MaxBatch} × {engine.MaxSeq} tokens, saved for the backward, plus backward scratch and the loss chunk"),
            new("optimizer state", optimizer, MemoryPhase.Step, "AdamW first and second moments, F32"),
            new("kernel workspace", CpuWorkspaceBytes(config, engine, threads), MemoryPhase.Step, $"GEMM packing per thread ({threads}), attention transposes"),
            new("weights file (mapped)", weightFileBytes, MemoryPhase.Load, "safetensors pages read while loading"),
            new("load staging", LoadStagingBytes(config, engine), MemoryPhase.Load, "largest tensor widened to F32 (and transposed for GPT-2)"),
        };
        return new MemoryPlan(list);
    }

    /// <summary>What the CPU backend's scratch grows to over a step: per-thread GEMM panels and attention tiles, and the shared attention-backward planes.</summary>
    public static long CpuWorkspaceBytes(ModelConfig c, EngineOptions e, int threads)
    {
        long gemm = Arena.Aligned((long)CpuGemm.KcMax * (CpuGemm.NcMax + 32) * sizeof(float))
            + Arena.Aligned((long)(CpuGemm.McMax + CpuGemm.MR) * CpuGemm.KcMax * sizeof(float));
        long tiles = Arena.Aligned((2L * AttentionTiles.Rows * AttentionTiles.Cols + 2L * AttentionTiles.Rows * c.HeadDim) * sizeof(float));
        long pad = (e.MaxSeq + 7) / 8 * 8;
        long kvPlane = (long)e.MaxBatch * c.NumKvHeads * c.HeadDim * pad;
        long qPlane = (long)e.MaxBatch * c.NumHeads * c.HeadDim * pad;
        long delta = (long)e.MaxBatch * c.NumHeads * e.MaxSeq;
        long shared = Arena.Aligned((2 * kvPlane + 2 * qPlane + delta) * sizeof(float));
        long segmentRuns = Arena.Aligned(2L * e.MaxBatch * e.MaxSeq * sizeof(int));
        return threads * (gemm + tiles) + shared + segmentRuns;
    }

    private static long LoadStagingBytes(ModelConfig c, EngineOptions e)
    {
        // Phi-3's fused gate_up_proj and qkv_proj are the widest matrices it loads
        long largest = Math.Max((long)c.VocabSize * c.HiddenSize, Math.Max(2L * c.IntermediateSize * c.HiddenSize,
            Math.Max(3L * c.HiddenSize * c.HiddenSize, (long)(c.QDim + 2 * c.KvDim) * c.HiddenSize)));
        return largest * sizeof(float) * (c.Family == ModelFamily.Gpt2 ? 2 : 1);
    }
}
