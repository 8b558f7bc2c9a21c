using FineTuneLab.Trainer.Tokenizers.Jinja;

namespace FineTuneLab.Trainer.Tests.ChatTemplates;

/// <summary>Where a model's template comes from: a string, a list of named templates, or chat_template.jinja.</summary>
public class TemplateLoadingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ftl-tpl-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Config(string json) => File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), json);

    [Fact]
    public void A_list_of_named_templates_gives_default_or_the_named_one()
    {
        Config("""
            {"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "pad_token": null,
             "chat_template": [{"name": "default", "template": "D{{ bos_token }}{{ pad_token is defined }}"}, {"name": "tool_use", "template": "T{{ eos_token }}"}]}
            """);
        Assert.Equal("D<s>False", ChatTemplate.TryLoad(_dir)!.Render([], false));
        Assert.Equal("T</s>", ChatTemplate.TryLoad(_dir, "tool_use")!.Render([], false));
        var e = Assert.Throws<InvalidDataException>(() => ChatTemplate.TryLoad(_dir, "rag"));
        Assert.Contains("default, tool_use", e.Message);
    }

    [Fact]
    public void Chat_template_jinja_takes_precedence_and_syntax_errors_name_the_file()
    {
        Config("""{"eos_token": "</s>", "chat_template": "from config"}""");
        File.WriteAllText(Path.Combine(_dir, "chat_template.jinja"), "from file {{ eos_token }}\n");
        Assert.Equal("from file </s>", ChatTemplate.TryLoad(_dir)!.Render([], false));
        File.WriteAllText(Path.Combine(_dir, "chat_template.jinja"), "ok\n{% while true %}");
        var e = Assert.Throws<JinjaSyntaxException>(() => ChatTemplate.TryLoad(_dir));
        Assert.Contains("chat_template.jinja", e.Message);
        Assert.Contains("line 2, column 4", e.Message);
    }
}
