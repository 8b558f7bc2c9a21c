using FineTuneLab.Trainer.Export.Gguf;

namespace FineTuneLab.Trainer.Tests.Export.Gguf;

public sealed class OllamaModelfileTests
{
    [Fact]
    public void ChatML_Llama3_and_Mistral_templates_get_their_Go_template_and_stop_tokens()
    {
        var chatml = OllamaModelfile.Build("model-q8_0.gguf", "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}", ["<|im_end|>"]);
        Assert.Equal("""
            # Ollama: ollama create NAME -f Modelfile (in this folder)
            FROM ./model-q8_0.gguf
            # ChatML chat format, from the model's chat template
            TEMPLATE \"\"\"{{- range .Messages }}<|im_start|>{{ .Role }}
            {{ .Content }}<|im_end|>
            {{ end }}<|im_start|>assistant
            \"\"\"
            PARAMETER stop "<|im_start|>"
            PARAMETER stop "<|im_end|>"

            """.Replace("\\\"", "\""), chatml);
        var llama3 = OllamaModelfile.Build("m.gguf", "{{ '<|start_header_id|>' + role + '<|end_header_id|>' }}", ["<|end_of_text|>"]);
        Assert.Contains("<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>", llama3);
        Assert.Contains("PARAMETER stop \"<|eot_id|>\"\n", llama3);
        Assert.Contains("PARAMETER stop \"<|end_of_text|>\"\n", llama3);
        var mistral = OllamaModelfile.Build("m.gguf", "{{ bos_token }}{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}", ["</s>"]);
        Assert.Contains("[INST] {{ .Content }}[/INST]", mistral);
        Assert.Contains("PARAMETER stop \"[INST]\"", mistral);
    }

    [Fact]
    public void An_unrecognised_template_gets_no_TEMPLATE_but_a_note()
    {
        var text = OllamaModelfile.Build("m.gguf", "{% for m in messages %}<start_of_turn>{{ m.role }}{% endfor %}", ["<eos>"]);
        Assert.DoesNotContain("TEMPLATE \"\"\"", text);
        Assert.Contains("not ChatML, Llama 3 or Mistral", text);
        Assert.Contains("PARAMETER stop \"<eos>\"", text);
        Assert.Contains("no chat template", OllamaModelfile.Build("m.gguf", null, []));
    }
}
