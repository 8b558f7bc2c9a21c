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
/// <param name="OutputLockWait">How long to wait for another run to release the output folder (default 2 minutes).</param>
public sealed record TrainingRunOptions(JobSpec Spec, string JobSpecFile, RunOutput Output, string? ResumeFrom = null, int? Threads = null,
    DeviceKind? Device = null, TimeSpan? OutputLockWait = null);

/// <summary>
/// A whole training run, as the process contract in trainer/README.md describes it: data check, model, the step loop
/// with the learning-rate schedule, evaluation, checkpoints, stop requests, and the result; every event goes to
/// stdout and DIR/events.jsonl. Returns the exit code: 0 completed or stopped, 1 failed, 2 refused (bad input).
/// There is one step loop for every method: what differs between supervised training and DPO is the
/// <see cref="ITrainingObjective"/> it is given (<see cref="SupervisedObjective"/>, <see cref="DpoObjective"/>).
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
        OutputLock held;
        try { held = await OutputLock.AcquireAsync(output.Root, options.OutputLockWait ?? TimeSpan.FromMinutes(2), m => Console.Error.WriteLine(m), ct); }
        catch (RunRefusedException e)
        {
            // The folder's events.jsonl belongs to the run that holds it: nothing of ours goes there.
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        using var outputLock = held;
        TerminateTornLine(output.EventsFile);
        using var events = new EventStream(stdout, output.EventsFile, EventStream.ReadLastSeq(output.EventsFile));
        _events = events;
        long step = 0;
        try
        {
            return await TrainAsync(s => step = s, ct);
        }
        catch (Exception e) when (e is RunRefusedException or CheckpointCorruptException or DatasetFormatException or Models.ModelConfigException
            or Backends.Cuda.CudaUnavailableException)
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
        // a GGUF the run cannot write is refused now, not after the training it would follow
        if (spec.Export.Gguf is not null)
        {
            try { Export.Gguf.GgufModelExporter.Preflight(modelDir, Export.Gguf.GgufQuantNames.Parse(spec.Export.Gguf, "export.gguf")); }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException or ModelConfigException)
            {
                throw new RunRefusedException($"export.gguf: {e.Message}", e);
            }
        }
        var template = ChatTemplateResolver.Resolve(modelDir, tokenizer);
        int? Id(string name) => template.SpecialTokens.TryGetValue(name, out var t) ? tokenizer.TokenToId(t) : null;
        var eosId = Id("eos_token");
        var padId = Id("pad_token") ?? eosId ?? 0;
        var dropoutSeed = spec.Seed ^ 0xD6E8FEB86659FD93UL;
        using var objective = await OpenObjectiveAsync(tokenizer, template, eosId, padId, dropoutSeed, ct);

        // QLoRA is LoRA over NF4 base weights: the same adapters, the base quantized on load; DPO trains an adapter too
        var lora = spec.Method is TrainingMethod.Lora or TrainingMethod.Qlora or TrainingMethod.Dpo
            ? new LoraOptions(spec.Lora.R, spec.Lora.Alpha, LoraOptions.ResolveTargets(spec.Lora.TargetModules, HfConfig.Load(modelDir).Family),
                (float)spec.Lora.Dropout, spec.Lora.UseRsLora)
            : null;
        var engine = new EngineOptions
        {
            Lora = lora,
            FullFineTune = lora is null,
            QuantizeBase = spec.Method == TrainingMethod.Qlora || (spec.Method == TrainingMethod.Dpo && spec.Dpo.QuantizeBase),
            WeightDType = spec.Model.WeightDType switch
            {
                WeightDType.Fp32 => DType.F32,
                WeightDType.Bf16 => DType.BF16,
                WeightDType.Fp16 => DType.F16,
                _ => null,
            },
            MaxBatch = objective.MaxBatchRows,
            MaxSeq = spec.MaxSeqLen,
            Seed = spec.Seed,
        };
        using var model = OpenModel(modelDir, backend, engine);
        if (lora is not null && resumed is null) model.InitLora(spec.Seed);

        using var trainer = new TrainingStep(model, new OptimizerSettings((float)spec.Optimizer.LearningRate, (float)spec.Optimizer.Beta1,
            (float)spec.Optimizer.Beta2, (float)spec.Optimizer.Epsilon, (float)spec.Optimizer.WeightDecay, (float)spec.Optimizer.MaxGradNorm), dropoutSeed);
        var stepsPerEpoch = (objective.UnitsPerEpoch + objective.UnitsPerStep - 1) / objective.UnitsPerStep;
        long totalSteps = spec.MaxSteps ?? (long)Math.Ceiling(spec.Epochs!.Value * stepsPerEpoch);
        var schedule = LearningRateSchedule.From(spec.Optimizer, spec.Scheduler, totalSteps);
        var method = spec.Method.ToString().ToLowerInvariant();

        long step = 0, tokensSeen = 0;
        if (resumed is not null)
        {
            if (resumed.Seed != spec.Seed || resumed.Method != method)
                throw new RunRefusedException($"cannot resume from {options.ResumeFrom}: it was trained with seed {resumed.Seed} and method {resumed.Method}, this job has seed {spec.Seed} and method {method}");
            try { CheckpointFiles.Restore(options.ResumeFrom!, model, trainer, resumed, lora is not null); }
            catch (Exception e) when (e is InvalidDataException or SafeTensorsFormatException or ArgumentException)
            {
                throw new RunRefusedException($"cannot resume from {options.ResumeFrom}: {e.Message}", e);
            }
            objective.Cursor = new DataCursor(resumed.DataEpoch, resumed.DataIndex);
            step = resumed.Step;
            tokensSeen = resumed.TokensSeen;
        }

        Emit(device.Start(spec.Name, totalSteps, objective.TokensPerEpoch, (int)step));
        foreach (var note in _dataNotes) Emit(note);
        if (resumed is null) Emit(new LogEvent("info", objective.Describe(model, stepsPerEpoch)));
        objective.Attach(model, Emit);

        var store = new CheckpointStore(output.CheckpointsDirectory);
        var monitor = new TrainingMonitor();
        var lastCheckpointTime = _clock.Elapsed;
        long lastCheckpointStep = -1, lastEvalStep = -1;

        void Checkpoint()
        {
            var cursor = objective.Cursor;
            var state = new RunState
            {
                Step = step, TotalSteps = totalSteps, DataEpoch = cursor.Epoch, DataIndex = cursor.Index, Seed = spec.Seed,
                DropoutSeed = dropoutSeed, Method = method, TrainableParameters = model.TrainableCount,
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
            var e = objective.Evaluate(step);
            lastEvalStep = step;
            Emit(e);
        }

        if (resumed is null && objective.EvaluatesBaseline && spec.Eval.EverySteps > 0 && objective.HasValidation) Evaluate();
        while (step < totalSteps)
        {
            ct.ThrowIfCancellationRequested();
            var started = Stopwatch.GetTimestamp();
            var lr = schedule.At(step);
            var outcome = objective.Step(trainer, step, lr);
            step++;
            reportStep(step);
            tokensSeen += outcome.Tokens;
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            var tokensPerS = outcome.Tokens / Math.Max(seconds, 1e-9);
            Emit(new StepEvent(step, totalSteps, (double)(step * objective.UnitsPerStep) / Math.Max(1, objective.UnitsPerEpoch), outcome.Loss, lr,
                outcome.GradNorm, tokensPerS, objective.UnitsPerStep / Math.Max(seconds, 1e-9), Elapsed, tokensSeen, device.Memory(), outcome.Dpo));
            foreach (var w in monitor.Observe(step, outcome.Loss, tokensPerS)) Emit(w);

            if (spec.Eval.EverySteps > 0 && step % spec.Eval.EverySteps == 0 && objective.HasValidation) Evaluate();
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

        if (objective.HasValidation && lastEvalStep != step) Evaluate();
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
        if (spec.Export.Gguf is { } quantName)
        {
            // the merged result as llama.cpp / Ollama load it; a QLoRA adapter merges into the NF4 base it trained against
            var quant = Export.Gguf.GgufQuantNames.Parse(quantName, "export.gguf");
            var gguf = lora is not null
                ? Export.Gguf.GgufPackage.Write(modelDir, output.AdapterDirectory, output.GgufDirectory, quant)
                : Export.Gguf.GgufPackage.Write(output.ModelDirectory, null, output.GgufDirectory, quant);
            Emit(new LogEvent("info", $"GGUF export: {gguf.Path} ({gguf.Architecture}, {Export.Gguf.GgufQuantNames.Name(quant)}, pre-tokenizer {gguf.PreTokenizer}) and {Export.Gguf.OllamaModelfile.FileName}"));
        }
        Emit(new DoneEvent("completed", step, result, Elapsed));
        return 0;
    }

    /// <summary>The job's objective over its data: DPO on preference pairs, otherwise supervised next-token training.</summary>
    private async Task<ITrainingObjective> OpenObjectiveAsync(ITokenizer tokenizer, Tokenizers.Jinja.ChatTemplate template, int? eosId, int padId,
        ulong dropoutSeed, CancellationToken ct)
    {
        if (_spec.Method != TrainingMethod.Dpo) return new SupervisedObjective(_spec, await OpenDataAsync(tokenizer, template, eosId, padId, ct), padId);
        var (trainPairs, validationPairs) = await OpenPreferencePairsAsync(tokenizer, template, ct);
        var referenceFolders = new List<string> { Path.Combine(options.Output.Root, "dpo-reference") };
        if (options.ResumeFrom is { } from && Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(from))) is { } earlierRun)
            referenceFolders.Add(Path.Combine(earlierRun, "dpo-reference"));
        return new DpoObjective(_spec, trainPairs, validationPairs, referenceFolders, dropoutSeed);
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
