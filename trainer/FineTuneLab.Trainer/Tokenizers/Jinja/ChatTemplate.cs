using System.Text.Json;

namespace FineTuneLab.Trainer.Tokenizers.Jinja;

/// <summary>
/// A model's chat template with the special-token variables transformers passes to it
/// (<c>bos_token</c>, <c>eos_token</c>, ... from tokenizer_config.json). <see cref="Render"/> is
/// <c>tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=...)</c>.
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>The special-token names transformers puts in the template's variables when they are set.</summary>
    public static readonly string[] SpecialTokenNames =
        ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

    private readonly JinjaTemplate _template;

    public string Source { get; }
    /// <summary>Where the template came from, for messages ("tokenizer_config.json", "builtin ChatMl", ...).</summary>
    public string Origin { get; }
    public IReadOnlyDictionary<string, string> SpecialTokens { get; }
    /// <summary>What <c>strftime_now</c> returns; local time by default, like transformers.</summary>
    public Func<DateTime> Clock { get; init; } = () => DateTime.Now;

    public ChatTemplate(string source, IReadOnlyDictionary<string, string> specialTokens, string origin)
    {
        Source = source;
        Origin = origin;
        SpecialTokens = specialTokens;
        try
        {
            _template = JinjaTemplate.Parse(source);
        }
        catch (JinjaSyntaxException e)
        {
            throw new JinjaSyntaxException(e.Reason, e.Line, e.Column, origin);
        }
    }

    /// <summary>
    /// The model's template from a tokenizer folder (<c>chat_template.jinja</c> if present, else the
    /// <c>chat_template</c> field of tokenizer_config.json: a string, or a list of named templates where
    /// <paramref name="templateName"/> or "default" is taken), or null when it has none.
    /// </summary>
    public static ChatTemplate? TryLoad(string tokenizerDir, string? templateName = null)
    {
        var configPath = Path.Combine(tokenizerDir, "tokenizer_config.json");
        var specialTokens = File.Exists(configPath) ? ReadSpecialTokens(configPath) : new Dictionary<string, string>();
        var jinjaFile = Path.Combine(tokenizerDir, "chat_template.jinja");
        if (File.Exists(jinjaFile))
            return new ChatTemplate(File.ReadAllText(jinjaFile), specialTokens, jinjaFile);
        if (!File.Exists(configPath)) return null;
        var source = ReadTemplateSource(configPath, templateName);
        return source is null ? null : new ChatTemplate(source, specialTokens, configPath);
    }

    /// <summary>A built-in format, with the special tokens of the tokenizer folder's config when it has one.</summary>
    public static ChatTemplate Builtin(BuiltinChatFormat format, IReadOnlyDictionary<string, string> specialTokens) =>
        new(BuiltinChatTemplates.Source(format), specialTokens, $"builtin {format} template");

    public static string? ReadTemplateSource(string configPath, string? templateName = null)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(configPath));
        if (!doc.RootElement.TryGetProperty("chat_template", out var t) || t.ValueKind == JsonValueKind.Null) return null;
        if (t.ValueKind == JsonValueKind.String) return t.GetString();
        if (t.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{configPath}: chat_template must be a string or a list of {{name, template}}");
        var wanted = templateName ?? "default";
        var names = new List<string>();
        foreach (var entry in t.EnumerateArray())
        {
            var name = entry.GetProperty("name").GetString() ?? "";
            names.Add(name);
            if (name == wanted) return entry.GetProperty("template").GetString();
        }
        throw new InvalidDataException($"{configPath}: no chat template named '{wanted}' (it has {string.Join(", ", names)})");
    }

    /// <summary>bos_token etc. as transformers' special_tokens_map gives them (a string or an AddedToken's content; unset ones left out).</summary>
    public static Dictionary<string, string> ReadSpecialTokens(string configPath)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(configPath));
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in SpecialTokenNames)
        {
            if (!doc.RootElement.TryGetProperty(name, out var v)) continue;
            if (v.ValueKind == JsonValueKind.String) map[name] = v.GetString()!;
            else if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String)
                map[name] = c.GetString()!;
        }
        return map;
    }

    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt,
        IReadOnlyDictionary<string, object?>? extraVariables = null) =>
        RenderValues(messages.Select(m => (object?)m.ToTemplateValue()).ToList(), addGenerationPrompt, null, null, extraVariables);

    /// <summary>Renders messages given as arbitrary JSON-like values (tool calls, content parts, ...).</summary>
    public string RenderValues(IReadOnlyList<object?> messages, bool addGenerationPrompt, object? tools = null,
        object? documents = null, IReadOnlyDictionary<string, object?>? extraVariables = null)
    {
        // The order transformers uses: special tokens, then the caller's kwargs, then messages/tools/documents/add_generation_prompt.
        var vars = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (k, v) in SpecialTokens) vars[k] = v;
        if (extraVariables is not null)
            foreach (var (k, v) in extraVariables) vars[k] = v;
        vars["messages"] = messages;
        vars["tools"] = tools;
        vars["documents"] = documents;
        vars["add_generation_prompt"] = addGenerationPrompt;
        return _template.Render(vars, Clock);
    }
}
