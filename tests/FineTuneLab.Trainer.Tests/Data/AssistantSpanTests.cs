using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Data;
using FineTuneLab.Trainer.Tokenizers.Jinja;

namespace FineTuneLab.Trainer.Tests.Data;

/// <summary>Assistant spans located in renderings of the real models' templates (Gemma 3, Qwen 3 with its think scaffold, Llama 3).</summary>
public class AssistantSpanTests
{
    private static ChatTemplate Real(string family) =>
        ChatTemplate.TryLoad(Path.Combine(RepoPaths.SharedTestData, "tokenizers", family))!;

    private static readonly ChatMessage[] Conversation =
    [
        new("system", "Be brief."),
        new("user", "First question?"),
        new("assistant", "First answer."),
        new("user", "Second question?"),
        new("assistant", "<think>\nponder\n</think>\n\nSecond answer."),
    ];

    public static TheoryData<string> Families => new() { "gemma3", "qwen3", "llama3" };

    [Theory]
    [MemberData(nameof(Families))]
    public void Spans_hold_the_answers_and_none_of_the_prompts(string family)
    {
        var template = Real(family);
        var rendered = AssistantSpanFinder.Render(template, Conversation, AssistantLoss.AllTurns);
        Assert.Equal(2, rendered.AssistantSpans.Count);
        var first = rendered.Text[rendered.AssistantSpans[0]];
        var second = rendered.Text[rendered.AssistantSpans[1]];
        Assert.StartsWith("First answer.", first);
        Assert.Contains("Second answer.", second);
        foreach (var span in new[] { first, second })
        {
            Assert.DoesNotContain("question", span);
            Assert.DoesNotContain("Be brief", span);
        }
        // Everything outside the spans is the prompt side; the spans end with the turn's closing text.
        var closing = family switch { "gemma3" => "<end_of_turn>\n", "qwen3" => "<|im_end|>\n", _ => "<|eot_id|>" };
        Assert.EndsWith(closing, second);
        Assert.EndsWith(closing, first);
        Assert.True(rendered.AssistantSpans[0].End.Value <= rendered.AssistantSpans[1].Start.Value);
    }

    [Fact]
    public void Qwen3_trains_the_last_turn_with_its_think_block_and_earlier_turns_without()
    {
        var rendered = AssistantSpanFinder.Render(Real("qwen3"), Conversation, AssistantLoss.AllTurns);
        Assert.Equal("First answer.<|im_end|>\n", rendered.Text[rendered.AssistantSpans[0]]);
        Assert.Equal("<think>\nponder\n</think>\n\nSecond answer.<|im_end|>\n", rendered.Text[rendered.AssistantSpans[1]]);
    }
}
