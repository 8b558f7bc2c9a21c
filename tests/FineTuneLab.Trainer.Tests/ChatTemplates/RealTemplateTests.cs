using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Tokenizers.Jinja;
using static FineTuneLab.Trainer.Tests.ChatTemplates.Conversations;

namespace FineTuneLab.Trainer.Tests.ChatTemplates;

/// <summary>The real models' chat templates rendered by our interpreter and by Python's jinja2: identical bytes.</summary>
public class RealTemplateTests
{
    // the shared tokenizer folders, and beside these tests the chat templates of families with no shared tokenizer
    private static string ConfigPath(string family)
    {
        var shared = Path.Combine(RepoPaths.SharedTestData, "tokenizers", family, "tokenizer_config.json");
        return File.Exists(shared) ? shared
            : Path.Combine(RepoPaths.Root, "tests", "FineTuneLab.Trainer.Tests", "ChatTemplates", "Templates", family, "tokenizer_config.json");
    }

    [Theory]
    [InlineData("llama2")]
    [InlineData("gpt4o")]
    public void Families_without_a_template_have_none(string family)
    {
        Assert.Null(ChatTemplate.TryLoad(Path.GetDirectoryName(ConfigPath(family))!));
    }

    [Theory]
    [InlineData("gemma3")]
    [InlineData("llama3")]
    [InlineData("qwen3")]
    [InlineData("llama32")]
    [InlineData("phi3")]
    public async Task Renders_like_jinja2_for_every_conversation_with_and_without_generation_prompt(string family)
    {
        var cases = new JsonArray();
        foreach (var (_, messages) in Plain())
            foreach (var gen in new[] { false, true })
                cases.Add(new JsonObject { ["messages"] = messages.DeepClone(), ["add_generation_prompt"] = gen });
        foreach (var extra in FamilyExtras(family)) cases.Add(extra);

        var template = ChatTemplate.TryLoad(Path.GetDirectoryName(ConfigPath(family))!)
                       ?? throw new InvalidOperationException($"{family} has no chat template");
        template = new ChatTemplate(template.Source, template.SpecialTokens, template.Origin) { Clock = () => JinjaReference.Now };
        var expected = await JinjaReference.RenderAsync(ConfigPath(family), cases);
        Assert.Equal(cases.Count, expected.Count);
        var compared = 0;
        for (var i = 0; i < cases.Count; i++)
        {
            var c = cases[i]!.AsObject();
            var caseJson = c.ToJsonString();
            using var doc = JsonDocument.Parse(caseJson);
            var root = doc.RootElement;
            var messages = root.GetProperty("messages").EnumerateArray().Select(e => (object?)e.Clone()).ToList();
            object? tools = root.TryGetProperty("tools", out var t) ? t.Clone() : null;
            var kwargs = root.TryGetProperty("kwargs", out var k)
                ? k.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone())
                : null;
            string? actual = null, error = null;
            try
            {
                actual = template.RenderValues(messages, root.GetProperty("add_generation_prompt").GetBoolean(), tools, null, kwargs);
            }
            catch (JinjaRaisedException e)
            {
                error = e.TemplateMessage;
            }
            if (expected[i].Error is { } refError)
            {
                Assert.True(error is not null, $"case {i} ({caseJson}): jinja2 failed with {refError} but we rendered:\n{actual}");
                Assert.Equal(refError, "TemplateError: " + error);
            }
            else
            {
                Assert.True(error is null, $"case {i} ({caseJson}): we failed with {error}");
                Assert.Equal(expected[i].Text, actual);
                compared++;
            }
        }
        Assert.True(compared >= 12, $"only {compared} renderings compared");
    }

    private static IEnumerable<JsonObject> FamilyExtras(string family)
    {
        switch (family)
        {
            case "gemma3":
                // Content given as parts, and roles that do not alternate (the template raises).
                yield return new JsonObject
                {
                    ["messages"] = new JsonArray(
                        new JsonObject { ["role"] = "system", ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = "Sys as parts" }) },
                        new JsonObject { ["role"] = "user", ["content"] = new JsonArray(
                            new JsonObject { ["type"] = "image" },
                            new JsonObject { ["type"] = "text", ["text"] = "  What is in the picture?  " }) }),
                    ["add_generation_prompt"] = true,
                };
                yield return new JsonObject { ["messages"] = Chat(Msg("user", "a"), Msg("user", "b")), ["add_generation_prompt"] = false };
                break;
            case "llama32":
                // a custom tool in the first user message, a single tool call, its ipython result; and a given date
                var weather = JsonNode.Parse("""
                    [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
                    """)!.AsArray();
                var calls = JsonNode.Parse("""
                    [{"role": "system", "content": "  You can call tools.  "},
                     {"role": "user", "content": "Weather in Zürich?"},
                     {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich"}}}]},
                     {"role": "ipython", "content": {"temp_c": 3.5}},
                     {"role": "assistant", "content": "It is 3.5 °C."}]
                    """)!.AsArray();
                yield return new JsonObject { ["messages"] = calls.DeepClone(), ["tools"] = weather.DeepClone(), ["add_generation_prompt"] = true };
                yield return new JsonObject
                {
                    ["messages"] = Chat(Msg("user", "Hi")), ["add_generation_prompt"] = true,
                    ["kwargs"] = new JsonObject { ["date_string"] = "01 Feb 2025" },
                };
                break;
            case "qwen3":
                var tools = JsonNode.Parse("""
                    [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city — «now»",
                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "default": 3}},
                      "required": ["city"]}}}]
                    """)!.AsArray();
                var toolChat = JsonNode.Parse("""
                    [{"role": "system", "content": "You can call tools."},
                     {"role": "user", "content": "Weather in Zürich?"},
                     {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich", "days": 2}}}]},
                     {"role": "tool", "content": "{\"temp_c\": 3.5}"},
                     {"role": "tool", "content": "second result"},
                     {"role": "assistant", "content": "It is 3.5 °C.", "reasoning_content": "The tool said 3.5."}]
                    """)!.AsArray();
                yield return new JsonObject { ["messages"] = toolChat.DeepClone(), ["tools"] = tools.DeepClone(), ["add_generation_prompt"] = false };
                yield return new JsonObject { ["messages"] = toolChat.DeepClone(), ["add_generation_prompt"] = true };
                yield return new JsonObject
                {
                    ["messages"] = Chat(Msg("user", "Quick answer please")),
                    ["add_generation_prompt"] = true,
                    ["kwargs"] = new JsonObject { ["enable_thinking"] = false },
                };
                break;
        }
    }
}
