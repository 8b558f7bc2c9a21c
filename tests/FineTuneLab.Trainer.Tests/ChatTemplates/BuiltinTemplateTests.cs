using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Tokenizers.Jinja;
using static FineTuneLab.Trainer.Tests.ChatTemplates.Conversations;

namespace FineTuneLab.Trainer.Tests.ChatTemplates;

/// <summary>The fallback templates (for models without one) rendered by us and by jinja2 from the same text.</summary>
public class BuiltinTemplateTests
{
    [Theory]
    [InlineData(BuiltinChatFormat.ChatMl, "qwen3")]
    [InlineData(BuiltinChatFormat.Llama3, "llama3")]
    [InlineData(BuiltinChatFormat.Llama2, "llama2")]
    [InlineData(BuiltinChatFormat.ChatMl, "gpt4o")]
    public async Task Builtin_template_renders_like_jinja2(BuiltinChatFormat format, string tokenizerFamily)
    {
        var config = Path.Combine(RepoPaths.SharedTestData, "tokenizers", tokenizerFamily, "tokenizer_config.json");
        var template = ChatTemplate.Builtin(format, ChatTemplate.ReadSpecialTokens(config));
        var cases = new JsonArray();
        foreach (var (_, messages) in Plain())
            foreach (var gen in new[] { false, true })
                cases.Add(new JsonObject { ["messages"] = messages.DeepClone(), ["add_generation_prompt"] = gen, ["template"] = template.Source });
        var expected = await JinjaReference.RenderAsync(config, cases);
        for (var i = 0; i < cases.Count; i++)
        {
            using var doc = JsonDocument.Parse(cases[i]!.ToJsonString());
            var messages = doc.RootElement.GetProperty("messages").EnumerateArray()
                .Select(m => new ChatMessage(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!)).ToList();
            var gen = doc.RootElement.GetProperty("add_generation_prompt").GetBoolean();
            Assert.Null(expected[i].Error);
            Assert.Equal(expected[i].Text, template.Render(messages, gen));
        }
    }

    [Fact]
    public void Llama2_fallback_has_the_classic_layout()
    {
        var template = ChatTemplate.Builtin(BuiltinChatFormat.Llama2, new Dictionary<string, string> { ["bos_token"] = "<s>", ["eos_token"] = "</s>" });
        var text = template.Render([new("system", "S"), new("user", "U1"), new("assistant", "A1"), new("user", "U2")], false);
        Assert.Equal("<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nU1 [/INST] A1 </s><s>[INST] U2 [/INST]", text);
    }
}
