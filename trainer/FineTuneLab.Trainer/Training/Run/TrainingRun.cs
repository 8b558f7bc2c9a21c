using System.Diagnostics;
using FineTuneLab.Trainer.Data;
using FineTuneLab.Trainer.Events;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Jobs;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;
using FineTuneLab.Trainer.Tokenizers;
using FineTuneLab.Trainer.Training.Checkpoints;
using FineTuneLab.Trainer.Training.Monitoring;
using FineTuneLab.Trainer.Training.Schedules;

namespace FineTuneLab.Trainer.Training.Run;

/// <summary>What <c>ftl-train train</c> was asked to do.</summary>
/// <param name="Device">--device, overriding the spec's <c>device</c> when set.</param>
public sealed record TrainingRunOptions(JobSpec Spec, string JobSpecFile, RunOutput Output, string? ResumeFrom = null, int? Threads = null,
    DeviceKind? Device = null);

/// <summary>
/// A whole training run, as the process contract in trainer/README.md describes it: data check, model, the step loop
/// with the learning-rate schedule, evaluation, checkpoints, stop requests, and the result; every event goes to
/// stdout and DIR/events.jsonl. Returns the exit code: 0 completed or stopped, 1 failed, 2 refused (bad input).
/// </summary>
public sealed partial class TrainingRun(TrainingRunOptions options, TextWriter stdout, StopRequest stop, Action<TrainerEvent>? observer = null)
{
    private readonly JobSpec _spec = options.Spec;
    private EventStream _events = null!;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private double _elapsedBefore;

    /// <summary>What the data check found, reported right after <c>start</c> (which must be the first event).</summary>
    private readonly List<LogEvent> _dataNotes = [];

    private double Elapsed => _elapsedBefore + _clock.Elapsed.TotalSeconds;

    private void Emit(TrainerEvent e) => observer?.Invoke(_events.Emit(e));

    public async Task<int> ExecuteAsync(CancellationToken ct = default)
    {
        var output = options.Output;
        output.Create();
        TerminateTornLine(output.EventsFile);
        using var events = new EventStream(stdout, output.EventsFile, EventStream.ReadLastSeq(output.EventsFile));
        _events = events;
        long step = 0;
        try
        {
            return await TrainAsync(s => step = s, ct);
        }
        catch (Exception e) when (e is RunRefusedException or CheckpointCorruptException or DatasetFormatException or Backends.Cuda.CudaUnavailableException)
        {
            Emit(new ErrorEvent(e.Message, e.GetType().Name, null));
            Emit(new DoneEvent("failed", step, null, Elapsed));
            return 2;
        }
        catch (Exception e)
        {
            Emit(new ErrorEvent(e.Message, e.GetType().FullName, e.ToString()));
            Emit(new DoneEvent("failed", step, null, Elapsed));
            return 1;
        }
    }

    private async Task<int> TrainAsync(Action<long> reportStep, CancellationToken ct)
    {
        var spec = _spec;
        var output = options.Output;
        RunState? resumed = null;
        if (options.ResumeFrom is { } from)
        {
            try { resumed = CheckpointFiles.Open(from); }
            catch (InvalidDataException e) { throw new RunRefusedException($"cannot resume from {from}: {e.Message}", e); }
            _elapsedBefore = resumed.ElapsedSeconds;
            reportStep(resumed.Step);
        }

        // The device first: a node without a usable GPU is refused in a second, before any data is read.
        var threads = options.Threads ?? (spec.Threads > 0 ? spec.Threads : Environment.ProcessorCount);
        using var device = RunDevice.Open(options.Device ?? spec.Device, threads);
        var backend = device.Backend;

        var modelDir = spec.Model.Path;
        var tokenizer = HfTokenizer.Load(modelDir);
        var template = ChatTemplateResolver.Resolve(modelDir, tokenizer);
        int? Id(string name) => template.SpecialTokens.TryGetValue(name, out var t) ? tokenizer.TokenToId(t) : null;
        var eosId = Id("eos_token");
        var padId = Id("pad_token") ?? eosId ?? 0;
        if (spec.Method == TrainingMethod.Dpo) return await TrainDpoAsync(resumed, device, tokenizer, template, reportStep, ct);
        using var sequences = await OpenDataAsync(tokenizer, template, eosId, padId, ct);

        // QLoRA is LoRA over NF4 base weights: the same adapters, the base quantized on load.
        var lora = spec.Method is TrainingMethod.Lora or TrainingMethod.Qlora
            ? new LoraOptions(spec.Lora.R, spec.Lora.Alpha, spec.Lora.TargetModules, (float)spec.Lora.Dropout, spec.Lora.UseRsLora)
            : null;
        var engine = new EngineOptions
        {
            Lora = lora,
            FullFineTune = lora is null,
            QuantizeBase = spec.Method == TrainingMethod.Qlora,
            WeightDType = spec.Model.WeightDType switch
            {
                WeightDType.Fp32 => DType.F32,
                WeightDType.Bf16 => DType.BF16,
                WeightDType.Fp16 => DType.F16,
                _ => null,
            },
            MaxBatch = spec.MicroBatchSize,
            MaxSeq = spec.MaxSeqLen,
            Seed = spec.Seed,
        };
        using var model = OpenModel(modelDir, backend, engine);
        if (lora is not null && resumed is null) model.InitLora(spec.Seed);

        var dropoutSeed = spec.Seed ^ 0xD6E8FEB86659FD93UL;
        using var trainer = new TrainingStep(model, new OptimizerSettings((float)spec.Optimizer.LearningRate, (float)spec.Optimizer.Beta1,
            (float)spec.Optimizer.Beta2, (float)spec.Optimizer.Epsilon, (float)spec.Optimizer.WeightDecay, (float)spec.Optimizer.MaxGradNorm), dropoutSeed);
        var batches = new BatchStream(sequences, spec.MicroBatchSize, spec.GradientAccumulationSteps, padId);
        var (rowsPerEpoch, tokensPerEpoch) = BatchStream.Measure(sequences.Epoch(0));
        var stepsPerEpoch = (rowsPerEpoch + batches.RowsPerStep - 1) / batches.RowsPerStep;
        long totalSteps = spec.MaxSteps ?? (long)Math.Ceiling(spec.Epochs!.Value * stepsPerEpoch);
        var schedule = LearningRateSchedule.From(spec.Optimizer, spec.Scheduler, totalSteps);

        var cursor = new DataCursor(0, 0);
        long step = 0, tokensSeen = 0;
        if (resumed is not null)
        {
            if (resumed.Seed != spec.Seed || resumed.Method != spec.Method.ToString().ToLowerInvariant())
                throw new RunRefusedException($"cannot resume from {options.ResumeFrom}: it was trained with seed {resumed.Seed} and method {resumed.Method}, this job has seed {spec.Seed} and method {spec.Method.ToString().ToLowerInvariant()}");
            try { CheckpointFiles.Restore(options.ResumeFrom!, model, trainer, resumed, lora is not null); }
            catch (Exception e) when (e is InvalidDataException or SafeTensorsFormatException or ArgumentException)
            {
                throw new RunRefusedException($"cannot resume from {options.ResumeFrom}: {e.Message}", e);
            }
            cursor = new DataCursor(resumed.DataEpoch, resumed.DataIndex);
            step = resumed.Step;
            tokensSeen = resumed.TokensSeen;
        }

        Emit(device.Start(spec.Name, totalSteps, tokensPerEpoch, (int)step));
        foreach (var note in _dataNotes) Emit(note);
        if (resumed is null)
            Emit(new LogEvent("info", $"{model.Config.Architecture}: {model.TrainableCount:N0} trainable parameters ({(lora is null ? "full" : $"LoRA r={lora.Rank}")}), {rowsPerEpoch} rows of {spec.MaxSeqLen} tokens per epoch, {stepsPerEpoch} steps per epoch"));

        var store = new CheckpointStore(output.CheckpointsDirectory);
        var monitor = new TrainingMonitor();
        using var evaluator = new Evaluator(model, batches);
        var lastCheckpointTime = _clock.Elapsed;
        long lastCheckpointStep = -1, lastEvalStep = -1;

        void Checkpoint()
        {
            var state = new RunState
            {
                Step = step, TotalSteps = totalSteps, DataEpoch = cursor.Epoch, DataIndex = cursor.Index, Seed = spec.Seed,
                DropoutSeed = dropoutSeed, Method = spec.Method.ToString().ToLowerInvariant(), TrainableParameters = model.TrainableCount,
                TokensSeen = tokensSeen, ElapsedSeconds = Elapsed,
            };
            var info = store.Write(step, dir => CheckpointFiles.Write(dir, model, trainer, state, lora, modelDir, options.JobSpecFile));
            store.Prune(spec.Checkpoint.KeepLast);
            lastCheckpointTime = _clock.Elapsed;
            lastCheckpointStep = step;
            Emit(new CheckpointEvent(step, info.Path, info.Bytes, info.ManifestSha256));
        }

        void Evaluate()
        {
            var r = evaluator.Run(sequences.Validation(), spec.MicroBatchSize, spec.Eval.MaxBatches);
            lastEvalStep = step;
            Emit(new EvalEvent(step, r.Loss, r.TokenAccuracy, r.Perplexity, r.Tokens));
        }

        if (step < totalSteps)
        {
            using var steps = batches.Steps(cursor).GetEnumerator();
            while (step < totalSteps)
            {
                ct.ThrowIfCancellationRequested();
                var started = Stopwatch.GetTimestamp();
                steps.MoveNext();
                var (micro, after, rowTokens) = steps.Current;
                var lr = schedule.At(step);
                var outcome = trainer.Step(micro, (float)lr);
                step++;
                reportStep(step);
                cursor = after;
                tokensSeen += rowTokens;
                var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                var tokensPerS = rowTokens / Math.Max(seconds, 1e-9);
                Emit(new StepEvent(step, totalSteps, (double)(step * batches.RowsPerStep) / Math.Max(1, rowsPerEpoch), outcome.Loss, lr,
                    outcome.GradNorm, tokensPerS, batches.RowsPerStep / Math.Max(seconds, 1e-9), Elapsed, tokensSeen, device.Memory()));
                foreach (var w in monitor.Observe(step, outcome.Loss, tokensPerS)) Emit(w);

                if (spec.Eval.EverySteps > 0 && step % spec.Eval.EverySteps == 0 && sequences.HasValidation) Evaluate();
                var due = (spec.Checkpoint.EverySteps > 0 && step % spec.Checkpoint.EverySteps == 0)
                          || (spec.Checkpoint.EveryMinutes > 0 && (_clock.Elapsed - lastCheckpointTime).TotalMinutes >= spec.Checkpoint.EveryMinutes);
                if (due && step < totalSteps) Checkpoint();
                if (stop.IsRequested && step < totalSteps)
                {
                    if (lastCheckpointStep != step) Checkpoint();
                    Emit(new DoneEvent("stopped", step, null, Elapsed));
                    return 0;
                }
            }
        }

        if (sequences.HasValidation && lastEvalStep != step) Evaluate();
        string result;
        if (lora is not null)
        {
            ResultWriter.WriteAdapter(model, lora, modelDir, output.AdapterDirectory);
            result = output.AdapterDirectory;
        }
        else
        {
            ResultWriter.WriteFullModel(model, modelDir, output.ModelDirectory);
            result = output.ModelDirectory;
        }
        Emit(new DoneEvent("completed", step, result, Elapsed));
        return 0;
    }

    private static TransformerModel OpenModel(string folder, Backends.IBackend backend, EngineOptions engine)
    {
        var hasWeights = Directory.EnumerateFiles(folder, "*.safetensors").Any();
        if (hasWeights) return TransformerModel.FromFolder(folder, backend, engine);
        if (!engine.FullFineTune)
            throw new RunRefusedException($"{folder}: no *.safetensors weights; LoRA needs a trained base model (only method \"full\" starts from random weights)");
        // Pretraining from scratch: config.json only, weights drawn from the seed.
        var model = new TransformerModel(HfConfig.Load(folder), backend, engine, DType.F32);
        model.InitRandomWeights(engine.Seed);
        return model;
    }

    private async Task<ITrainingSequences> OpenDataAsync(ITokenizer tokenizer, Tokenizers.Jinja.ChatTemplate template, int? eosId, int padId, CancellationToken ct)
    {
        var data = _spec.Data;
        foreach (var file in new[] { data.Train, data.Validation })
            if (file is not null && !File.Exists(file)) throw new RunRefusedException($"data file {file} does not exist");
        if (data.Format == DataFormat.Text)
        {
            try
            {
                var corpus = TextCorpus.Load(data.Train, tokenizer, eosId, _spec.MaxSeqLen);
                var validation = data.Validation is null ? null : TextCorpus.Load(data.Validation, tokenizer, eosId, _spec.MaxSeqLen);
                var split = data.ValidationFraction > 0
                    ? DatasetSplit.ByFraction(corpus.Blocks.Count, data.ValidationFraction, _spec.Seed)
                    : DatasetSplit.AllTrain(corpus.Blocks.Count);
                return new TextSequences(corpus, split, validation, _spec.Seed);
            }
            catch (Exception e) when (e is InvalidDataException or System.Text.DecoderFallbackException)
            {
                throw new RunRefusedException(e.Message, e);
            }
        }

        var format = data.Format switch
        {
            DataFormat.Chat => DatasetFormat.Chat,
            DataFormat.PromptCompletion => DatasetFormat.PromptCompletion,
            DataFormat.Preference => DatasetFormat.Preference,
            _ => DatasetFormat.Auto,
        };
        var mapping = data.ColumnMapping.Count == 0 ? null : new ColumnMapping(data.ColumnMapping.Select(kv => (kv.Key, kv.Value)).ToList());
        var encoding = new EncodingOptions
        {
            MaxSeqLen = _spec.MaxSeqLen,
            AssistantLoss = data.TrainOn == TrainOn.LastAssistantTurn ? AssistantLoss.LastTurn : AssistantLoss.AllTurns,
            Truncation = TruncationPolicy.Right,
        };
        var checkOptions = new DatasetCheckOptions { Format = format, Mapping = mapping, Encoding = encoding, MaxProblemsListed = 50 };
        foreach (var file in new[] { data.Train, data.Validation })
        {
            if (file is null) continue;
            var report = await CheckDataAsync(file, tokenizer, template, checkOptions, ct);
            if (report.Format == DatasetFormat.Preference)
                throw new RunRefusedException($"{file}: preference pairs (DPO) are not trained by the supervised trainer; give chat or prompt/completion data");
        }
        var train = await TrainingDataset.OpenAsync(data.Train, format, mapping, ct);
        var validationFile = data.Validation is null ? null : await TrainingDataset.OpenAsync(data.Validation, format, mapping, ct);
        var dataSplit = data.ValidationFraction > 0 ? DatasetSplit.ByFraction(train.Count, data.ValidationFraction, _spec.Seed) : DatasetSplit.AllTrain(train.Count);
        var encoder = new ExampleEncoder(tokenizer, template, encoding);
        return new EncodedSequences(train, dataSplit, validationFile, encoder, _spec.Seed, _spec.MaxSeqLen, _spec.Packing, padId,
            trainAllTokens: data.TrainOn == TrainOn.AllTokens);
    }

    /// <summary>Runs the data check on one file: refuses on errors, notes what it found for the event stream.</summary>
    private async Task<DatasetCheckReport> CheckDataAsync(string file, ITokenizer tokenizer, Tokenizers.Jinja.ChatTemplate template, DatasetCheckOptions checkOptions,
        CancellationToken ct)
    {
        var report = await DatasetCheck.RunAsync(file, tokenizer, template, checkOptions, ct);
        if (report.HasErrors)
            throw new RunRefusedException($"{file}: the data check found {report.ErrorCount} error(s); fix them (ftl-train data check lists them all):\n  "
                + string.Join("\n  ", report.Problems.Where(p => p.Severity == ProblemSeverity.Error).Take(20)));
        _dataNotes.Add(new LogEvent(report.WarningCount > 0 ? "warning" : "info",
            $"data check {Path.GetFileName(file)}: {report.ValidExamples} examples, {report.TotalTokens} tokens ({report.TrainableTokens} trained), "
            + $"{report.OverLongExamples} longer than {_spec.MaxSeqLen} (truncated), {report.ExactDuplicates.Count} exact duplicates, {report.WarningCount} warnings"));
        return report;
    }

    /// <summary>A SIGKILL can cut the last event line short; end it so the next event starts on a line of its own.</summary>
    private static void TerminateTornLine(string eventsFile)
    {
        if (!File.Exists(eventsFile)) return;
        using var f = new FileStream(eventsFile, FileMode.Open, FileAccess.ReadWrite);
        if (f.Length == 0) return;
        f.Seek(-1, SeekOrigin.End);
        if (f.ReadByte() != '\n') f.Write("\n"u8);
    }
}
