using FineTuneLab.Trainer.Export;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Training.Checkpoints;

namespace FineTuneLab.Trainer.Training.Run;

/// <summary>
/// What a checkpoint folder holds (trainer/README.md, "Checkpoint layout"): the trained weights as the run's result
/// would be written (adapter/ in PEFT layout, or model/ for full fine-tuning), optimizer.safetensors (AdamW's
/// exp_avg and exp_avg_sq, flat in the engine's trainable order), run_state.json, the job spec (job.json) and the
/// manifest that <see cref="CheckpointStore"/> writes last. Every float is stored as F32, so a resume is bit-exact.
/// </summary>
public static class CheckpointFiles
{
    public const string OptimizerFile = "optimizer.safetensors";
    public const string JobFile = "job.json";
    public const string FirstMomentKey = "exp_avg";
    public const string SecondMomentKey = "exp_avg_sq";

    public static void Write(string folder, TransformerModel model, TrainingStep step, RunState state, LoraOptions? lora,
        string baseModel, string jobSpecFile)
    {
        if (lora is not null) ResultWriter.WriteAdapter(model, lora, baseModel, Path.Combine(folder, "adapter"));
        else ResultWriter.WriteFullModel(model, baseModel, Path.Combine(folder, "model"));
        var m = HostTransfer.Read(model.Backend, step.FirstMoment);
        var v = HostTransfer.Read(model.Backend, step.SecondMoment);
        SafeTensorsWriter.Write(Path.Combine(folder, OptimizerFile),
            [SafeTensorWriteItem.Float32(FirstMomentKey, m, m.Length), SafeTensorWriteItem.Float32(SecondMomentKey, v, v.Length)],
            new Dictionary<string, string> { ["step"] = state.Step.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        state.Save(Path.Combine(folder, RunState.FileName));
        File.Copy(jobSpecFile, Path.Combine(folder, JobFile));
    }

    /// <summary>Verifies the manifest (naming any missing or corrupt file) and reads the run state.</summary>
    public static RunState Open(string folder)
    {
        CheckpointStore.Verify(folder);
        return RunState.Load(Path.Combine(folder, RunState.FileName));
    }

    /// <summary>Loads weights and optimizer state of a verified checkpoint into the model and the step.</summary>
    public static void Restore(string folder, TransformerModel model, TrainingStep step, RunState state, bool lora)
    {
        if (state.TrainableParameters != model.TrainableCount)
            throw new InvalidDataException($"{folder}: the checkpoint trained {state.TrainableParameters} parameters, this job's model has {model.TrainableCount} (a different model or LoRA setting)");
        if (lora)
        {
            using var adapter = SafeTensorStore.Open(Path.Combine(folder, "adapter", PeftAdapterConfig.WeightsFileName));
            model.LoadLora(adapter);
        }
        else
        {
            using var weights = SafeTensorStore.Open(Path.Combine(folder, "model"));
            model.LoadWeights(weights);
        }
        using var optimizer = SafeTensorStore.Open(Path.Combine(folder, OptimizerFile));
        step.RestoreState(optimizer.ReadFloat32(FirstMomentKey), optimizer.ReadFloat32(SecondMomentKey), state.Step);
    }
}
