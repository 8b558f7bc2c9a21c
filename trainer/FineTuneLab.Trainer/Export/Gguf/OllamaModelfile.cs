using System.Text;

namespace FineTuneLab.Trainer.Export.Gguf;

/// <summary>
/// An Ollama <c>Modelfile</c> for a GGUF export: FROM the file beside it, a TEMPLATE in Ollama's Go template syntax
/// for the chat format the model's Jinja template has (ChatML, Llama 3 or Mistral [INST], recognised by their
/// marker tokens), and a PARAMETER stop for each token that ends a turn in that format plus the EOS token. A template
/// of another shape gets no TEMPLATE line but a comment saying so: Ollama then falls back to what it detects from the
/// GGUF's tokenizer.chat_template.
/// </summary>
public static class OllamaModelfile
{
    public const string FileName = "Modelfile";

    public sealed record Shape(string Name, string Template, string[] Stops);

    private static readonly Shape ChatMl = new("ChatML",
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n",
        ["<|im_start|>", "<|im_end|>"]);

    private static readonly Shape Llama3 = new("Llama 3",
        "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n",
        ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]);

    private static readonly Shape Mistral = new("Mistral",
        "{{- range .Messages }}{{- if eq .Role \"user\" }}[INST] {{ .Content }}[/INST]{{- else if eq .Role \"assistant\" }}{{ .Content }}</s>{{- end }}{{- end }}",
        ["[INST]", "[/INST]"]);

    /// <summary>The chat format of a Jinja chat template, by the marker tokens it writes; null when none fits.</summary>
    public static Shape? Recognise(string? chatTemplate) => chatTemplate switch
    {
        null => null,
        _ when chatTemplate.Contains("<|im_start|>", StringComparison.Ordinal) => ChatMl,
        _ when chatTemplate.Contains("<|start_header_id|>", StringComparison.Ordinal) => Llama3,
        _ when chatTemplate.Contains("[INST]", StringComparison.Ordinal) => Mistral,
        _ => null,
    };

    public static string Build(string ggufFileName, string? chatTemplate, IReadOnlyList<string> stopTokens)
    {
        var sb = new StringBuilder();
        sb.Append("# Ollama: ollama create NAME -f Modelfile (in this folder)\n");
        sb.Append($"FROM ./{ggufFileName}\n");
        var shape = Recognise(chatTemplate);
        if (shape is null)
            sb.Append(chatTemplate is null
                ? "# The model has no chat template: no TEMPLATE is set (Ollama sends the prompt as is).\n"
                : "# The model's chat template is not ChatML, Llama 3 or Mistral: no TEMPLATE is set, Ollama uses what it detects from the GGUF's tokenizer.chat_template.\n");
        else
        {
            sb.Append($"# {shape.Name} chat format, from the model's chat template\n");
            sb.Append("TEMPLATE \"\"\"").Append(shape.Template).Append("\"\"\"\n");
        }
        var stops = (shape?.Stops ?? []).Concat(stopTokens).Distinct(StringComparer.Ordinal);
        foreach (var s in stops) sb.Append("PARAMETER stop \"").Append(s.Replace("\\", "\\\\").Replace("\"", "\\\"")).Append("\"\n");
        return sb.ToString();
    }
}
