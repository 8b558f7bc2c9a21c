using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Export;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Inference;

/// <summary>Loads a Hugging Face model folder for inference, alone or with a PEFT LoRA adapter applied unmerged.</summary>
public static class InferenceModel
{
    public const string AdapterKeyPrefix = "base_model.model.";

    /// <summary>
    /// The model with room for sequences of <paramref name="maxLength"/> tokens; with <paramref name="adapterDir"/>,
    /// adapters exactly on the modules the adapter file holds (dropout off), loaded from its PEFT tensors.
    /// <paramref name="forwardTokens"/> bounds what one full forward (<see cref="FullForwardDecoder"/>, scoring) may
    /// run and so the activation memory; a model used only through a <see cref="CachedDecoder"/> needs 1.
    /// </summary>
    public static TransformerModel Load(string modelDir, string? adapterDir, IBackend backend, int maxLength, DType? weightDType = null,
        int? forwardTokens = null)
    {
        var options = new EngineOptions
        {
            MaxBatch = 1, MaxSeq = forwardTokens ?? maxLength, RopePositions = maxLength, WeightDType = weightDType, InferenceOnly = adapterDir is null,
        };
        if (adapterDir is null) return TransformerModel.FromFolder(modelDir, backend, options);
        var config = PeftAdapterConfig.Load(adapterDir);
        var weights = Path.Combine(adapterDir, PeftAdapterConfig.WeightsFileName);
        if (!File.Exists(weights)) throw new FileNotFoundException($"{weights}: the adapter folder has no {PeftAdapterConfig.WeightsFileName}", weights);
        using var store = SafeTensorStore.Open(weights);
        var modules = AdaptedModules(store);
        var lora = new LoraOptions(config.Rank, config.Alpha, modules, 0f, config.UseRsLora);
        var model = TransformerModel.FromFolder(modelDir, backend, options with { Lora = lora });
        try
        {
            if (model.Adapters.Count != modules.Count)
            {
                var known = model.Adapters.Select(a => a.ModulePath).ToHashSet();
                var missing = modules.First(m => !known.Contains(m));
                throw new InvalidDataException($"{weights}: adapter for '{missing}', which this {model.Config.Architecture} does not have");
            }
            model.LoadLora(store);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Module paths of every <c>lora_A</c> tensor in a PEFT adapter file.</summary>
    public static List<string> AdaptedModules(SafeTensorStore store)
    {
        const string suffix = ".lora_A.weight";
        var modules = store.Names.Where(n => n.EndsWith(suffix, StringComparison.Ordinal))
            .Select(n => n.StartsWith(AdapterKeyPrefix, StringComparison.Ordinal) ? n[AdapterKeyPrefix.Length..^suffix.Length]
                : throw new InvalidDataException($"{store.Location}: tensor '{n}' does not start with '{AdapterKeyPrefix}' (not a PEFT adapter)"))
            .OrderBy(n => n, StringComparer.Ordinal).ToList();
        if (modules.Count == 0) throw new InvalidDataException($"{store.Location}: no '*{suffix}' tensors: not a LoRA adapter");
        return modules;
    }
}
