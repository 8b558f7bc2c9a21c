using System.Text.Json;

namespace FineTuneLab.Trainer.Jobs;

/// <summary>
/// Parses and validates a job spec (docs/job-spec.md). Every problem is collected — with the field's JSON path and
/// its line and column in the file — before failing, so a user fixes a spec in one round trip.
/// </summary>
public static class JobSpecParser
{
    private static readonly JsonDocumentOptions DocumentOptions = new() { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip };
    private static readonly JsonReaderOptions ReaderOptions = new() { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip };

    /// <summary>Reads a job file; relative paths in it are resolved against the file's folder.</summary>
    public static JobSpec Load(string file)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new JobSpecException(file, [new JobSpecError("$", $"cannot read the file: {e.Message}")]);
        }
        var spec = Parse(bytes, file);
        var folder = Path.GetDirectoryName(Path.GetFullPath(file))!;
        return ResolvePaths(spec, folder);
    }

    /// <summary>Parses a job spec from UTF-8 JSON; <paramref name="source"/> names it in errors.</summary>
    public static JobSpec Parse(ReadOnlySpan<byte> utf8Json, string source = "job spec")
    {
        // JsonDocument checks UTF-8 only when a string is read, deep in the field checks: refuse it here, where it is.
        if (Formats.Utf8Text.FirstInvalid(utf8Json) is >= 0 and var bad)
        {
            var (line, column) = Formats.Utf8Text.Position(utf8Json, bad);
            throw new JobSpecException(source, [new JobSpecError("$", $"not valid UTF-8 (byte 0x{utf8Json[bad]:X2} at offset {bad})", line, column)]);
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8Json.ToArray(), DocumentOptions);
        }
        catch (JsonException e)
        {
            var line = (int?)e.LineNumber + 1;
            var column = (int?)e.BytePositionInLine + 1;
            throw new JobSpecException(source, [new JobSpecError(e.Path ?? "$", $"not valid JSON: {FirstSentence(e.Message)}", line, column)]);
        }

        using (document)
        {
            var errors = new List<JobSpecError>();
            var spec = Read(document.RootElement, errors);
            if (errors.Count > 0)
            {
                var index = new JsonLocationIndex(utf8Json, ReaderOptions);
                var located = errors.Select(e => index.Find(e.Path) is { } at ? e with { Line = at.Line, Column = at.Column } : e).ToList();
                throw new JobSpecException(source, located);
            }
            return spec!;
        }
    }

    private static JobSpec? Read(JsonElement root, List<JobSpecError> errors)
    {
        var r = new JsonFieldReader(root, "$", errors);
        if (!r.IsObject) return null;

        var version = r.Int("schema_version", min: 1) ?? JobSpec.CurrentSchemaVersion;
        if (version > JobSpec.CurrentSchemaVersion)
            r.Error("$.schema_version", $"this ftl-train reads schema version {JobSpec.CurrentSchemaVersion}; the spec is version {version} (upgrade ftl-train)");

        var defaults = new JobSpecDefaults();
        var model = ReadModel(r.Object("model", required: true));
        var method = r.Enum<TrainingMethod>("method") ?? TrainingMethod.Lora;
        var lora = ReadLora(r.Object("lora"), defaults.Lora);
        var dpo = ReadDpo(r.Object("dpo"));
        if (r.Has("dpo") && method != TrainingMethod.Dpo)
            r.Error("$.dpo", "\"dpo\" settings need \"method\": \"dpo\"");
        var data = ReadData(r.Object("data", required: true), defaults);
        var epochs = r.Double("epochs", min: 0, minExclusive: true);
        var maxSteps = r.Int("max_steps", min: 1);
        if (epochs is null && maxSteps is null && !r.Has("epochs") && !r.Has("max_steps"))
            r.Error("$", "one of \"epochs\" or \"max_steps\" is required");
        if (r.Has("epochs") && r.Has("max_steps"))
            r.Error("$.max_steps", "give either \"epochs\" or \"max_steps\", not both");

        var spec = new JobSpec
        {
            SchemaVersion = version,
            Name = r.String("name") ?? "job",
            Model = model ?? new ModelSpec { Path = "" },
            Method = method,
            Lora = lora,
            Dpo = dpo,
            Data = data ?? new DataSpec { Train = "" },
            MaxSeqLen = r.Int("max_seq_len", min: 8, max: 1 << 20) ?? 1024,
            Packing = r.Bool("packing") ?? true,
            MicroBatchSize = r.Int("micro_batch_size", min: 1, max: 4096) ?? 1,
            GradientAccumulationSteps = r.Int("gradient_accumulation_steps", min: 1, max: 65536) ?? 1,
            Epochs = epochs,
            MaxSteps = maxSteps,
            Optimizer = ReadOptimizer(r.Object("optimizer"), defaults.Optimizer),
            Scheduler = ReadScheduler(r.Object("scheduler"), defaults.Scheduler),
            Seed = r.UInt64("seed") ?? 42,
            Eval = ReadEval(r.Object("eval"), defaults.Eval),
            Checkpoint = ReadCheckpoint(r.Object("checkpoint"), defaults.Checkpoint),
            Export = ReadExport(r.Object("export")),
            Threads = r.Int("threads", min: 0, max: 4096) ?? 0,
            Device = r.Enum<DeviceKind>("device") ?? DeviceKind.Auto,
        };
        r.RejectUnknownFields();

        if (spec.Method == TrainingMethod.Dpo && spec.Data.Format is not (DataFormat.Auto or DataFormat.Preference))
            r.Error("$.data.format", $"method dpo trains on preference pairs; data.format is \"{JsonFieldReader.SnakeCase(spec.Data.Format.ToString())}\"");
        if (spec.Data.Validation is null && spec.Data.ValidationFraction == 0 && spec.Eval.EverySteps > 0)
            r.Error("$.eval.every_steps", "evaluation needs validation data: set data.validation or data.validation_fraction");
        return spec;
    }

    private static ModelSpec? ReadModel(JsonFieldReader? r)
    {
        if (r is null) return null;
        var model = new ModelSpec
        {
            Path = r.String("path", required: true) ?? "",
            WeightDType = r.Enum<WeightDType>("weight_dtype") ?? WeightDType.Auto,
        };
        r.RejectUnknownFields();
        return model;
    }

    private static DpoSpec ReadDpo(JsonFieldReader? r)
    {
        var d = new DpoSpec();
        if (r is null) return d;
        var dpo = new DpoSpec
        {
            Beta = r.Double("beta", min: 0, minExclusive: true) ?? d.Beta,
            QuantizeBase = r.Bool("quantize_base") ?? d.QuantizeBase,
        };
        r.RejectUnknownFields();
        return dpo;
    }

    private static LoraSpec ReadLora(JsonFieldReader? r, LoraSpec d)
    {
        if (r is null) return d;
        var lora = new LoraSpec
        {
            R = r.Int("r", min: 1, max: 4096) ?? d.R,
            Alpha = r.Double("alpha", min: 0, minExclusive: true) ?? d.Alpha,
            Dropout = r.Double("dropout", min: 0, max: 0.999) ?? d.Dropout,
            UseRsLora = r.Bool("use_rslora") ?? d.UseRsLora,
            TargetModules = r.StringList("target_modules") ?? d.TargetModules,
        };
        r.RejectUnknownFields();
        return lora;
    }

    private static DataSpec? ReadData(JsonFieldReader? r, JobSpecDefaults defaults)
    {
        if (r is null) return null;
        var data = new DataSpec
        {
            Train = r.String("train", required: true) ?? "",
            Validation = r.String("validation"),
            ValidationFraction = r.Double("validation_fraction", min: 0, max: 0.9) ?? 0,
            Format = r.Enum<DataFormat>("format") ?? DataFormat.Auto,
            ColumnMapping = r.StringMap("column_mapping") ?? defaults.Data.ColumnMapping,
            TrainOn = r.Enum<TrainOn>("train_on") ?? TrainOn.AllAssistantTurns,
        };
        if (data.Validation is not null && data.ValidationFraction > 0)
            r.Error(r.Child("validation_fraction"), "give either \"validation\" (a file) or \"validation_fraction\", not both");
        r.RejectUnknownFields();
        return data;
    }

    private static OptimizerSpec ReadOptimizer(JsonFieldReader? r, OptimizerSpec d)
    {
        if (r is null) return d;
        var o = new OptimizerSpec
        {
            LearningRate = r.Double("learning_rate", min: 0, max: 10, minExclusive: true) ?? d.LearningRate,
            WeightDecay = r.Double("weight_decay", min: 0, max: 10) ?? d.WeightDecay,
            Beta1 = r.Double("beta1", min: 0, max: 0.999999) ?? d.Beta1,
            Beta2 = r.Double("beta2", min: 0, max: 0.999999) ?? d.Beta2,
            Epsilon = r.Double("epsilon", min: 0, max: 1, minExclusive: true) ?? d.Epsilon,
            MaxGradNorm = r.Double("max_grad_norm", min: 0) ?? d.MaxGradNorm,
        };
        r.RejectUnknownFields();
        return o;
    }

    private static SchedulerSpec ReadScheduler(JsonFieldReader? r, SchedulerSpec d)
    {
        if (r is null) return d;
        var s = new SchedulerSpec
        {
            Type = r.Enum<SchedulerKind>("type") ?? d.Type,
            WarmupSteps = r.Int("warmup_steps", min: 0),
            WarmupRatio = r.Double("warmup_ratio", min: 0, max: 1),
        };
        if (s.WarmupSteps is not null && s.WarmupRatio is not null)
            r.Error(r.Child("warmup_ratio"), "give either \"warmup_steps\" or \"warmup_ratio\", not both");
        r.RejectUnknownFields();
        return s;
    }

    private static EvalSpec ReadEval(JsonFieldReader? r, EvalSpec d)
    {
        if (r is null) return d;
        var e = new EvalSpec
        {
            EverySteps = r.Int("every_steps", min: 0) ?? d.EverySteps,
            MaxBatches = r.Int("max_batches", min: 0) ?? d.MaxBatches,
        };
        r.RejectUnknownFields();
        return e;
    }

    private static CheckpointSpec ReadCheckpoint(JsonFieldReader? r, CheckpointSpec d)
    {
        if (r is null) return d;
        var c = new CheckpointSpec
        {
            EverySteps = r.Int("every_steps", min: 0) ?? d.EverySteps,
            EveryMinutes = r.Double("every_minutes", min: 0) ?? d.EveryMinutes,
            KeepLast = r.Int("keep_last", min: 1) ?? d.KeepLast,
        };
        r.RejectUnknownFields();
        return c;
    }

    private static ExportSpec ReadExport(JsonFieldReader? r)
    {
        if (r is null) return new ExportSpec();
        var gguf = r.String("gguf");
        if (gguf is not null && !Export.Gguf.GgufQuantNames.Exportable.Contains(gguf))
            r.Error(r.Child("gguf"), $"\"{gguf}\" is not a GGUF encoding this trainer writes ({string.Join(", ", Export.Gguf.GgufQuantNames.Exportable)})");
        r.RejectUnknownFields();
        return new ExportSpec { Gguf = gguf };
    }

    private static JobSpec ResolvePaths(JobSpec spec, string folder)
    {
        string Resolve(string p) => Path.IsPathRooted(p) ? p : Path.GetFullPath(Path.Combine(folder, p));
        return spec with
        {
            Model = spec.Model with { Path = Resolve(spec.Model.Path) },
            Data = spec.Data with
            {
                Train = Resolve(spec.Data.Train),
                Validation = spec.Data.Validation is null ? null : Resolve(spec.Data.Validation),
            },
        };
    }

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }

    /// <summary>The defaults of each section, taken from the records themselves so they are written once.</summary>
    private sealed class JobSpecDefaults
    {
        public LoraSpec Lora { get; } = new();
        public DataSpec Data { get; } = new() { Train = "" };
        public OptimizerSpec Optimizer { get; } = new();
        public SchedulerSpec Scheduler { get; } = new();
        public EvalSpec Eval { get; } = new();
        public CheckpointSpec Checkpoint { get; } = new();
    }
}
