using System.Globalization;
using System.Text.RegularExpressions;
using FineTuneLab.Trainer.Formats;

namespace FineTuneLab.Trainer.Models;

/// <summary>
/// config.json against the weights beside it, before anything is allocated from the config: a config that claims
/// 10⁹ layers over weights that hold 4 would otherwise size every buffer from the claim (and grow without bound)
/// before the first missing tensor is noticed.
/// </summary>
public static partial class WeightsMatchConfig
{
    /// <exception cref="ModelConfigException">The layer count or the embedding's shape disagrees with the weights.</exception>
    public static void Check(ModelConfig config, SafeTensorStore store, string source)
    {
        var layers = store.Names.Select(n => LayerIndex().Match(n)).Where(m => m.Success)
            .Select(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).Distinct().ToList();
        if (layers.Count > 0 && (layers.Count != config.NumLayers || layers.Max() != config.NumLayers - 1))
            throw new ModelConfigException($"{source}: config.json says {config.NumLayers} layers (num_hidden_layers / n_layer), " +
                $"the weights hold {layers.Count} (layers {layers.Min()}–{layers.Max()})");
        var embedding = new[] { "model.embed_tokens.weight", "transformer.wte.weight", "wte.weight" }.FirstOrDefault(store.Contains);
        if (embedding is not null && store.Get(embedding).Shape is var shape && (shape.Length != 2 || shape[1] != config.HiddenSize || shape[0] != config.VocabSize))
            throw new ModelConfigException($"{source}: {embedding} is [{string.Join(", ", shape)}], config.json says vocab_size {config.VocabSize} " +
                $"and hidden_size {config.HiddenSize}");
    }

    [GeneratedRegex(@"^(?:model\.layers|transformer\.h|h)\.(\d+)\.")]
    private static partial Regex LayerIndex();
}
