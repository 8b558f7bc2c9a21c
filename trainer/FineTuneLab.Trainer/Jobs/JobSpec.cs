namespace FineTuneLab.Trainer.Jobs;

/// <summary>
/// A training job as <c>ftl-train train --config job.json</c> reads it (schema version 1, documented in
/// docs/job-spec.md). Parsed and validated by <see cref="JobSpecParser"/>; every field has its default here.
/// </summary>
public sealed record JobSpec
{
    public const int CurrentSchemaVersion = 1;

    public int SchemaVersion { get; init; } = CurrentSchemaVersion;
    public string Name { get; init; } = "job";
    public required ModelSpec Model { get; init; }
    public TrainingMethod Method { get; init; } = TrainingMethod.Lora;
    public LoraSpec Lora { get; init; } = new();
    /// <summary>Only with <see cref="TrainingMethod.Dpo"/>.</summary>
    public DpoSpec Dpo { get; init; } = new();
    public required DataSpec Data { get; init; }
    public int MaxSeqLen { get; init; } = 1024;
    public bool Packing { get; init; } = true;
    public int MicroBatchSize { get; init; } = 1;
    public int GradientAccumulationSteps { get; init; } = 1;
    /// <summary>Exactly one of <see cref="Epochs"/> and <see cref="MaxSteps"/> bounds the run.</summary>
    public double? Epochs { get; init; }
    public int? MaxSteps { get; init; }
    public OptimizerSpec Optimizer { get; init; } = new();
    public SchedulerSpec Scheduler { get; init; } = new();
    public ulong Seed { get; init; } = 42;
    public EvalSpec Eval { get; init; } = new();
    public CheckpointSpec Checkpoint { get; init; } = new();
    public ExportSpec Export { get; init; } = new();
    /// <summary>CPU threads; 0 means all logical cores.</summary>
    public int Threads { get; init; }
    public DeviceKind Device { get; init; } = DeviceKind.Auto;
}

/// <summary>lora; full (every weight); qlora (LoRA on an NF4 base); dpo (preference training of a LoRA / QLoRA adapter).</summary>
public enum TrainingMethod { Lora, Full, Qlora, Dpo }

public sealed record DpoSpec
{
    /// <summary>Strength of the implicit KL penalty: rewards are beta · (log π - log π_ref).</summary>
    public double Beta { get; init; } = 0.1;
    /// <summary>Hold the frozen base in NF4 (DPO on QLoRA).</summary>
    public bool QuantizeBase { get; init; }
}

public enum DeviceKind { Auto, Cpu, Cuda }

public enum WeightDType { Auto, Fp32, Bf16, Fp16 }

public sealed record ModelSpec
{
    /// <summary>A Hugging Face model folder (config.json, *.safetensors, tokenizer.json); relative paths are relative to the job file.</summary>
    public required string Path { get; init; }
    /// <summary>How frozen base weights are held in memory; auto keeps the checkpoint's dtype.</summary>
    public WeightDType WeightDType { get; init; } = WeightDType.Auto;
}

public sealed record LoraSpec
{
    public int R { get; init; } = 8;
    public double Alpha { get; init; } = 16;
    public double Dropout { get; init; }
    public bool UseRsLora { get; init; }
    public IReadOnlyList<string> TargetModules { get; init; } = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
}

/// <summary>
/// The training file's shape; <see cref="Text"/> is plain text for pretraining (a .txt file, one paragraph per
/// non-blank line, or JSONL <c>{"text": ...}</c>), every token trained, concatenated and cut into max_seq_len blocks.
/// </summary>
public enum DataFormat { Auto, Chat, PromptCompletion, Preference, Text }

public enum TrainOn { AllAssistantTurns, LastAssistantTurn, AllTokens }

public sealed record DataSpec
{
    public required string Train { get; init; }
    /// <summary>A separate validation file, or null to split <see cref="ValidationFraction"/> off the training file.</summary>
    public string? Validation { get; init; }
    public double ValidationFraction { get; init; }
    public DataFormat Format { get; init; } = DataFormat.Auto;
    /// <summary>Maps other shapes onto ours: source field → role or field (for example customer_input → user).</summary>
    public IReadOnlyDictionary<string, string> ColumnMapping { get; init; } = new Dictionary<string, string>();
    public TrainOn TrainOn { get; init; } = TrainOn.AllAssistantTurns;
}

public sealed record OptimizerSpec
{
    public double LearningRate { get; init; } = 2e-4;
    public double WeightDecay { get; init; }
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Epsilon { get; init; } = 1e-8;
    /// <summary>Global-norm clipping threshold; 0 disables clipping.</summary>
    public double MaxGradNorm { get; init; } = 1.0;
}

public enum SchedulerKind { Constant, Linear, Cosine }

public sealed record SchedulerSpec
{
    public SchedulerKind Type { get; init; } = SchedulerKind.Cosine;
    public int? WarmupSteps { get; init; }
    public double? WarmupRatio { get; init; }
}

public sealed record EvalSpec
{
    /// <summary>Evaluate every N optimizer steps; 0 evaluates only at the end (when there is validation data).</summary>
    public int EverySteps { get; init; }
    /// <summary>Cap on validation batches per evaluation; 0 evaluates the whole validation set.</summary>
    public int MaxBatches { get; init; }
}

/// <summary>What a finished run writes besides its adapter or model: a GGUF of the merged result.</summary>
public sealed record ExportSpec
{
    /// <summary>"f32", "f16", "bf16", "q8_0" (GgufQuantNames.All), or null for no GGUF.</summary>
    public string? Gguf { get; init; }
}

public sealed record CheckpointSpec
{
    public int EverySteps { get; init; }
    public double EveryMinutes { get; init; }
    public int KeepLast { get; init; } = 3;
}
