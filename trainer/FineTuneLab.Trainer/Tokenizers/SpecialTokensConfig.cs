using System.Text.Json;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>What the tokenizer takes from tokenizer_config.json: the BOS/EOS/PAD tokens and add_bos_token /
/// add_eos_token.</summary>
internal sealed record SpecialTokensConfig(string? Bos, string? Eos, string? Pad, bool? AddBos, bool? AddEos)
{
    public static SpecialTokensConfig Read(string file)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(file, "$", "the root must be an object");
            return new SpecialTokensConfig(TokenField(root, "bos_token", file), TokenField(root, "eos_token", file),
                TokenField(root, "pad_token", file), OptionalBool(root, "add_bos_token"), OptionalBool(root, "add_eos_token"));
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException(file, $"line {e.LineNumber + 1}", $"malformed JSON: {e.Message}", e);
        }
    }

    private static bool? OptionalBool(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : null;

    /// <summary>A special token field: a string, or an AddedToken object with "content".</summary>
    private static string? TokenField(JsonElement root, string name, string file)
    {
        if (!root.TryGetProperty(name, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object when v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
            _ => throw new TokenizerFormatException(file, $"$.{name}", "expected a string or an object with \"content\""),
        };
    }
}
