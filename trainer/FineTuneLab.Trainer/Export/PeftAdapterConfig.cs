using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.Trainer.Models;

namespace FineTuneLab.Trainer.Export;

/// <summary>
/// PEFT's <c>adapter_config.json</c> for a LoRA adapter: the fields PEFT reads to rebuild it (rank, alpha, targets,
/// rsLoRA, fan_in_fan_out for GPT-2's Conv1D) plus the base model it belongs to.
/// </summary>
public sealed record PeftAdapterConfig
{
    public const string FileName = "adapter_config.json";
    public const string WeightsFileName = "adapter_model.safetensors";

    public required int Rank { get; init; }
    public required double Alpha { get; init; }
    public required IReadOnlyList<string> TargetModules { get; init; }
    public double Dropout { get; init; }
    public bool UseRsLora { get; init; }
    public bool FanInFanOut { get; init; }
    public string? BaseModelNameOrPath { get; init; }

    public float Scale => (float)(UseRsLora ? Alpha / Math.Sqrt(Rank) : Alpha / Rank);

    /// <summary>The configuration of a model's adapters (targets named by their last path component, as PEFT users write them).</summary>
    public static PeftAdapterConfig From(LoraOptions lora, ModelConfig model, string? baseModel) => new()
    {
        Rank = lora.Rank,
        Alpha = lora.Alpha,
        TargetModules = lora.TargetModules.ToList(),
        Dropout = lora.Dropout,
        UseRsLora = lora.UseRsLora,
        FanInFanOut = model.Family == ModelFamily.Gpt2,
        BaseModelNameOrPath = baseModel,
    };

    public string ToJson()
    {
        var o = new JsonObject
        {
            ["alpha_pattern"] = new JsonObject(),
            ["base_model_name_or_path"] = BaseModelNameOrPath,
            ["bias"] = "none",
            ["fan_in_fan_out"] = FanInFanOut,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["lora_alpha"] = Alpha == Math.Floor(Alpha) ? JsonValue.Create((long)Alpha) : JsonValue.Create(Alpha),
            ["lora_dropout"] = Dropout,
            ["modules_to_save"] = null,
            ["peft_type"] = "LORA",
            ["r"] = Rank,
            ["rank_pattern"] = new JsonObject(),
            // PEFT reads "all-linear" only as a plain string; a list names modules
            ["target_modules"] = TargetModules is ["all-linear"] ? JsonValue.Create("all-linear")
                : new JsonArray(TargetModules.Select(t => (JsonNode?)JsonValue.Create(t)).ToArray()),
            ["task_type"] = "CAUSAL_LM",
            ["use_rslora"] = UseRsLora,
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Reads <c>adapter_config.json</c> from an adapter folder; errors name the file and field.</summary>
    public static PeftAdapterConfig Load(string adapterDir)
    {
        var path = Path.Combine(adapterDir, FileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no adapter_config.json in the adapter folder", path);
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
            _ = (root as JsonObject)?.Count; // a JsonObject reads its fields on first use: here, so that a duplicate shows here
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: invalid JSON: {e.Message}", e); }
        // JsonObject refuses a field given twice (Python's json keeps the last); we refuse it with its name.
        catch (ArgumentException e) { throw new InvalidDataException($"{path}: a field is given twice: {e.Message}", e); }
        if (root is not JsonObject o) throw new InvalidDataException($"{path}: expected a JSON object");
        if (o["peft_type"] is JsonValue pt && pt.ToString() != "LORA")
            throw new InvalidDataException($"{path}: peft_type is '{pt}', only LORA adapters are supported");
        T Field<T>(string name, T? fallback = default, bool required = false)
        {
            var node = o[name];
            if (node is null)
                return required ? throw new InvalidDataException($"{path}: field '{name}' is missing") : fallback!;
            try { return node.GetValue<T>(); }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"{path}: field '{name}' has the wrong type ({node.ToJsonString()})", e);
            }
        }
        var targets = o["target_modules"] switch
        {
            JsonArray a => a.Select(x => x?.GetValue<string>() ?? throw new InvalidDataException($"{path}: target_modules holds a null")).ToList(),
            JsonValue v => [v.GetValue<string>()],
            _ => new List<string>(),
        };
        var config = new PeftAdapterConfig
        {
            Rank = Field<int>("r", required: true),
            Alpha = Field<double>("lora_alpha", required: true),
            TargetModules = targets,
            Dropout = Field("lora_dropout", 0.0),
            UseRsLora = Field("use_rslora", false),
            FanInFanOut = Field("fan_in_fan_out", false),
            BaseModelNameOrPath = o["base_model_name_or_path"]?.ToString(),
        };
        if (config.Rank <= 0) throw new InvalidDataException($"{path}: field 'r' must be positive, got {config.Rank}");
        if (!(config.Alpha > 0)) throw new InvalidDataException($"{path}: field 'lora_alpha' must be positive, got {config.Alpha}");
        return config;
    }
}
