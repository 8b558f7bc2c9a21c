using System.Diagnostics;
using FineTuneLab.Trainer.Data;
using FineTuneLab.Trainer.Events;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Jobs;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;
using FineTuneLab.Trainer.Tokenizers;
using FineTuneLab.Trainer.Training.Checkpoints;
using FineTuneLab.Trainer.Training.Dpo;
using FineTuneLab.Trainer.Training.Monitoring;
using FineTuneLab.Trainer.Training.Schedules;

namespace FineTuneLab.Trainer.Training.Run;

/// <summary>
/// <c>method: dpo</c> (docs/qlora-dpo.md): preference pairs, a LoRA adapter (on an NF4 base with dpo.quantize_base)
/// trained by <see cref="DpoStep"/> (each answer its own sequence), evaluated in padded batches of micro_batch_size
/// pairs. Schedule, events, checkpoints and resume are the supervised run's; the data cursor counts pairs; the
/// reference log-probabilities are computed once and cached by content hash (<see cref="DpoReferenceCache"/>).
/// </summary>
public sealed partial class TrainingRun
{
    private async Task<int> TrainDpoAsync(RunState? resumed, RunDevice device, ITokenizer tokenizer, Tokenizers.Jinja.ChatTemplate template, Action<long> reportStep,
        CancellationToken ct)
    {
        var spec = _spec;
        var output = options.Output;
        var modelDir = spec.Model.Path;
        var (trainPairs, valPairs) = await OpenPreferencePairsAsync(tokenizer, template, ct);

        var backend = device.Backend;
        var lora = new LoraOptions(spec.Lora.R, spec.Lora.Alpha, spec.Lora.TargetModules, (float)spec.Lora.Dropout, spec.Lora.UseRsLora);
        var engine = new EngineOptions
        {
            Lora = lora,
            QuantizeBase = spec.Dpo.QuantizeBase,
            WeightDType = spec.Model.WeightDType switch
            {
                WeightDType.Fp32 => DType.F32,
                WeightDType.Bf16 => DType.BF16,
                WeightDType.Fp16 => DType.F16,
                _ => null,
            },
            // training runs one answer at a time; evaluation runs micro_batch_size pairs (2 rows each) per padded batch
            MaxBatch = 2 * spec.MicroBatchSize,
            MaxSeq = spec.MaxSeqLen,
            Seed = spec.Seed,
        };
        using var model = OpenModel(modelDir, backend, engine);
        if (resumed is null) model.InitLora(spec.Seed);

        var dropoutSeed = spec.Seed ^ 0xD6E8FEB86659FD93UL;
        using var trainer = new TrainingStep(model, new OptimizerSettings((float)spec.Optimizer.LearningRate, (float)spec.Optimizer.Beta1,
            (float)spec.Optimizer.Beta2, (float)spec.Optimizer.Epsilon, (float)spec.Optimizer.WeightDecay, (float)spec.Optimizer.MaxGradNorm), dropoutSeed);
        var pairsPerStep = spec.MicroBatchSize * spec.GradientAccumulationSteps;
        var stepsPerEpoch = (trainPairs.Count + pairsPerStep - 1) / pairsPerStep;
        long totalSteps = spec.MaxSteps ?? (long)Math.Ceiling(spec.Epochs!.Value * stepsPerEpoch);
        var schedule = LearningRateSchedule.From(spec.Optimizer, spec.Scheduler, totalSteps);
        long tokensPerEpoch = trainPairs.Sum(p => (long)p.ChosenIds.Length + p.RejectedIds.Length);

        var cursor = new DataCursor(0, 0);
        long step = 0, tokensSeen = 0;
        if (resumed is not null)
        {
            if (resumed.Seed != spec.Seed || resumed.Method != "dpo")
                throw new RunRefusedException($"cannot resume from {options.ResumeFrom}: it was trained with seed {resumed.Seed} and method {resumed.Method}, this job has seed {spec.Seed} and method dpo");
            try { CheckpointFiles.Restore(options.ResumeFrom!, model, trainer, resumed, lora: true); }
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
            Emit(new LogEvent("info", $"{model.Config.Architecture}: {model.TrainableCount:N0} trainable parameters (DPO, LoRA r={lora.Rank}, beta {spec.Dpo.Beta}"
                + $"{(spec.Dpo.QuantizeBase ? ", NF4 base" : "")}), {trainPairs.Count} training pairs, {valPairs.Count} validation pairs, {stepsPerEpoch} steps per epoch"));

        using var dpo = new DpoStep(model, (float)spec.Dpo.Beta, spec.MicroBatchSize);
        var evalPairs = spec.Eval.MaxBatches > 0 ? valPairs.Take(spec.Eval.MaxBatches * spec.MicroBatchSize).ToList() : valPairs;
        // the reference log-probabilities depend only on the frozen base, the engine's arithmetic and the tokenized
        // pairs: computed once and kept in OUT/dpo-reference (a resumed run also looks beside the run it resumes)
        var cacheFolders = new List<string> { Path.Combine(output.Root, "dpo-reference") };
        if (options.ResumeFrom is { } from && Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(from))) is { } earlierRun)
            cacheFolders.Add(Path.Combine(earlierRun, "dpo-reference"));
        var engineSettings = $"{backend.Name}|weights={engine.WeightDType?.ToString() ?? "as stored"}|nf4={engine.QuantizeBase}";
        DpoReference[] References(string set, string computation, List<DpoPair> pairs, Func<IReadOnlyList<DpoPair>, DpoReference[]> compute)
        {
            var key = DpoReferenceCache.Key(modelDir, engineSettings, computation, pairs);
            var refs = DpoReferenceCache.GetOrCompute(cacheFolders, key, pairs, compute, out var fromCache);
            Emit(new LogEvent("info", $"reference log-probabilities of the {pairs.Count} {set} pairs {(fromCache ? "read from" : "computed and saved in")} dpo-reference/{key}.bin"));
            return refs;
        }
        var trainRefs = References("training", "training: one sequence at a time", trainPairs, dpo.TrainingReferences);
        var evalRefs = evalPairs.Count > 0
            ? References("validation", $"evaluation: {dpo.BatchPairs} pairs per padded batch", evalPairs, dpo.EvaluationReferences)
            : [];

        var store = new CheckpointStore(output.CheckpointsDirectory);
        var monitor = new TrainingMonitor();
        var lastCheckpointTime = _clock.Elapsed;
        long lastCheckpointStep = -1, lastEvalStep = -1;
        int[]? order = null;
        int orderEpoch = -1;

        void Checkpoint()
        {
            var state = new RunState
            {
                Step = step, TotalSteps = totalSteps, DataEpoch = cursor.Epoch, DataIndex = cursor.Index, Seed = spec.Seed,
                DropoutSeed = dropoutSeed, Method = "dpo", TrainableParameters = model.TrainableCount, TokensSeen = tokensSeen, ElapsedSeconds = Elapsed,
            };
            var info = store.Write(step, dir => CheckpointFiles.Write(dir, model, trainer, state, lora, modelDir, options.JobSpecFile));
            store.Prune(spec.Checkpoint.KeepLast);
            lastCheckpointTime = _clock.Elapsed;
            lastCheckpointStep = step;
            Emit(new CheckpointEvent(step, info.Path, info.Bytes, info.ManifestSha256));
        }

        void Evaluate()
        {
            var m = dpo.Evaluate(evalPairs, evalRefs);
            lastEvalStep = step;
            // token accuracy and perplexity are language-model measures; a DPO evaluation reports its own in "dpo"
            Emit(new EvalEvent(step, m.Loss, 0, 0, evalPairs.Sum(p => (long)p.ChosenIds.Length + p.RejectedIds.Length), Figures(m)));
        }

        // The pairs of one optimizer step, in the seeded order of their epoch; the cursor moves past them.
        List<DpoPair> TakePairs(List<DpoReference> refs, out long tokens)
        {
            var pairs = new List<DpoPair>(pairsPerStep);
            refs.Clear();
            tokens = 0;
            while (pairs.Count < pairsPerStep)
            {
                if (cursor.Index >= trainPairs.Count) cursor = new DataCursor(cursor.Epoch + 1, 0);
                if (orderEpoch != cursor.Epoch)
                {
                    order = DeterministicShuffle.Permutation(trainPairs.Count, DeterministicShuffle.EpochSeed(spec.Seed, cursor.Epoch));
                    orderEpoch = cursor.Epoch;
                }
                var i = order![cursor.Index];
                pairs.Add(trainPairs[i]);
                refs.Add(trainRefs[i]);
                tokens += trainPairs[i].ChosenIds.Length + trainPairs[i].RejectedIds.Length;
                cursor = cursor with { Index = cursor.Index + 1 };
            }
            return pairs;
        }

        // the held-out baseline: before the first step the policy is the reference (B = 0), so the curve starts at
        // loss log 2 and accuracy 0 (ties) and every later evaluation reads against it
        if (resumed is null && spec.Eval.EverySteps > 0 && evalPairs.Count > 0) Evaluate();

        var stepRefs = new List<DpoReference>(pairsPerStep);
        while (step < totalSteps)
        {
            ct.ThrowIfCancellationRequested();
            var started = Stopwatch.GetTimestamp();
            var pairs = TakePairs(stepRefs, out var stepTokens);
            var lr = schedule.At(step);
            // the dropout masks depend on the step only, so a resumed run draws the same ones
            var m = dpo.Step(trainer, pairs, stepRefs, dropoutSeed + (ulong)step * 0x9E3779B97F4A7C15UL, (float)lr);
            step++;
            reportStep(step);
            tokensSeen += stepTokens;
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            var tokensPerS = stepTokens / Math.Max(seconds, 1e-9);
            Emit(new StepEvent(step, totalSteps, (double)(step * pairsPerStep) / trainPairs.Count, m.Loss, lr, m.GradNorm, tokensPerS,
                pairsPerStep / Math.Max(seconds, 1e-9), Elapsed, tokensSeen, device.Memory(), Figures(m)));
            foreach (var w in monitor.Observe(step, m.Loss, tokensPerS)) Emit(w);

            if (spec.Eval.EverySteps > 0 && step % spec.Eval.EverySteps == 0 && evalPairs.Count > 0) Evaluate();
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

        if (evalPairs.Count > 0 && lastEvalStep != step) Evaluate();
        ResultWriter.WriteAdapter(model, lora, modelDir, output.AdapterDirectory);
        Emit(new DoneEvent("completed", step, output.AdapterDirectory, Elapsed));
        return 0;
    }

    private static PreferenceFigures Figures(DpoMetrics m) => new(m.RewardMargin, m.Accuracy, m.ChosenReward, m.RejectedReward, m.Pairs);

    /// <summary>
    /// The training and validation pairs: every preference record encoded as two sequences sharing the prompt (as a
    /// user/assistant chat), the loss on the answer. Validation comes from data.validation or data.validation_fraction.
    /// </summary>
    private async Task<(List<DpoPair> Train, List<DpoPair> Validation)> OpenPreferencePairsAsync(ITokenizer tokenizer, Tokenizers.Jinja.ChatTemplate template,
        CancellationToken ct)
    {
        var data = _spec.Data;
        foreach (var file in new[] { data.Train, data.Validation })
            if (file is not null && !File.Exists(file)) throw new RunRefusedException($"data file {file} does not exist");
        var mapping = data.ColumnMapping.Count == 0 ? null : new ColumnMapping(data.ColumnMapping.Select(kv => (kv.Key, kv.Value)).ToList());
        var encoding = new EncodingOptions { MaxSeqLen = _spec.MaxSeqLen, Truncation = TruncationPolicy.Right, PromptCompletionAsChat = true };
        var checkOptions = new DatasetCheckOptions { Format = DatasetFormat.Preference, Mapping = mapping, Encoding = encoding, MaxProblemsListed = 50 };
        foreach (var file in new[] { data.Train, data.Validation })
            if (file is not null) await CheckDataAsync(file, tokenizer, template, checkOptions, ct);

        var encoder = new ExampleEncoder(tokenizer, template, encoding);
        List<DpoPair> Encode(TrainingDataset ds, IEnumerable<int> indices)
        {
            var pairs = new List<DpoPair>();
            foreach (var i in indices)
            {
                var record = ds.Read(i) as PreferenceRecord
                    ?? throw new RunRefusedException($"{ds.Path}: record {i + 1} is not a preference pair (prompt, chosen, rejected)");
                if (encoder.EncodePreference(record) is { } e) pairs.Add(DpoPair.FromEncoded(e.Chosen, e.Rejected));
            }
            return pairs;
        }

        using var train = await TrainingDataset.OpenAsync(data.Train, DatasetFormat.Preference, mapping, ct);
        var split = data.ValidationFraction > 0 ? DatasetSplit.ByFraction(train.Count, data.ValidationFraction, _spec.Seed) : DatasetSplit.AllTrain(train.Count);
        var trainPairs = Encode(train, split.Train);
        var valPairs = Encode(train, split.Validation);
        if (data.Validation is not null)
        {
            using var validation = await TrainingDataset.OpenAsync(data.Validation, DatasetFormat.Preference, mapping, ct);
            valPairs.AddRange(Encode(validation, Enumerable.Range(0, validation.Count)));
        }
        if (trainPairs.Count == 0) throw new RunRefusedException($"{data.Train}: no preference pair has a trainable answer within max_seq_len {_spec.MaxSeqLen}");
        return (trainPairs, valPairs);
    }
}
