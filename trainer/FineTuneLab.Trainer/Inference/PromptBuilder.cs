using System.Text.Json;
using FineTuneLab.Trainer.Data;
using FineTuneLab.Trainer.Tokenizers;
using FineTuneLab.Trainer.Tokenizers.Jinja;

namespace FineTuneLab.Trainer.Inference;

/// <summary>
/// Turns a prompt or a conversation into the ids generation starts from, as transformers does: a conversation goes
/// through the model's chat template with add_generation_prompt and is tokenized without extra special tokens (the
/// template writes them); raw text is tokenized with the tokenizer's own special tokens (BOS).
/// </summary>
public static class PromptBuilder
{
    public static int[] Chat(string tokenizerDir, HfTokenizer tokenizer, IReadOnlyList<ChatMessage> messages)
    {
        var template = ChatTemplateResolver.Resolve(tokenizerDir, tokenizer);
        return tokenizer.Encode(template.Render(messages, addGenerationPrompt: true), addSpecialTokens: false);
    }

    public static int[] Raw(HfTokenizer tokenizer, string text) => tokenizer.Encode(text, addSpecialTokens: true);

    /// <summary>Reads a JSON file holding a list of {"role", "content"} messages (or an object with "messages").</summary>
    public static List<ChatMessage> ReadMessages(string path)
    {
        JsonElement root;
        try { root = JsonDocument.Parse(File.ReadAllText(path)).RootElement; }
        catch (JsonException e) { throw new InvalidDataException($"{path}: invalid JSON: {e.Message}", e); }
        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("messages", out var inner)) root = inner;
        if (root.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{path}: expected a list of messages");
        var list = new List<ChatMessage>();
        int i = 0;
        foreach (var m in root.EnumerateArray())
        {
            string Field(string name) => m.ValueKind == JsonValueKind.Object && m.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
                ? v.GetString()! : throw new InvalidDataException($"{path}: messages[{i}].{name} is missing or not a string");
            list.Add(new ChatMessage(Field("role"), Field("content")));
            i++;
        }
        if (list.Count == 0) throw new InvalidDataException($"{path}: the message list is empty");
        return list;
    }

    /// <summary>Ids that end generation: the tokenizer's EOS and generation_config.json's eos_token_id (a number or a list).</summary>
    public static HashSet<int> StopTokenIds(string modelDir, HfTokenizer tokenizer)
    {
        var ids = new HashSet<int>();
        if (tokenizer.EosTokenId is { } eos) ids.Add(eos);
        var path = Path.Combine(modelDir, "generation_config.json");
        if (!File.Exists(path)) return ids;
        try
        {
            var root = JsonDocument.Parse(File.ReadAllText(path)).RootElement;
            if (root.TryGetProperty("eos_token_id", out var e))
            {
                if (e.ValueKind == JsonValueKind.Number) ids.Add(e.GetInt32());
                else if (e.ValueKind == JsonValueKind.Array) foreach (var x in e.EnumerateArray()) ids.Add(x.GetInt32());
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: eos_token_id must be a number or a list of numbers ({ex.Message})", ex);
        }
        return ids;
    }
}
