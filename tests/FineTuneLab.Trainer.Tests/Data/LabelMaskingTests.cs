using FineTuneLab.Trainer.Data;
using FineTuneLab.Trainer.Tokenizers.Jinja;

namespace FineTuneLab.Trainer.Tests.Data;

/// <summary>Loss only on what the model should write: assistant turns (all or last) or the completion plus EOS.</summary>
public class LabelMaskingTests
{
    private static readonly WordLevelTestTokenizer Tokenizer = WordLevelTestTokenizer.Default();

    private static readonly ChatRecord TwoTurns = new(1,
    [
        new ChatMessage("system", "You are terse."),
        new ChatMessage("user", "What is two plus two?"),
        new ChatMessage("assistant", "four"),
        new ChatMessage("user", "and three plus four?"),
        new ChatMessage("assistant", "seven"),
    ]);

    private static string TrainedText(EncodedExample e) =>
        string.Concat(Enumerable.Range(0, e.Length).Where(i => e.Labels[i] != EncodedExample.IgnoreIndex)
            .Select(i => Tokenizer.Decode([e.InputIds[i]])));

    [Fact]
    public void All_assistant_turns_carry_loss_and_nothing_else()
    {
        var encoder = new ExampleEncoder(Tokenizer, DataTestSupport.ChatMl(), new EncodingOptions());
        var e = encoder.Encode(TwoTurns)!;
        Assert.Equal("four<|im_end|>\nseven<|im_end|>\n", TrainedText(e));
        Assert.Equal(DataTestSupport.ChatMl().Render(TwoTurns.Messages, false), Tokenizer.Decode(e.InputIds));
        for (var i = 0; i < e.Length; i++)
            Assert.True(e.Labels[i] == EncodedExample.IgnoreIndex || e.Labels[i] == e.InputIds[i]);
    }

    [Fact]
    public void Last_turn_only_leaves_earlier_answers_as_context()
    {
        var encoder = new ExampleEncoder(Tokenizer, DataTestSupport.ChatMl(), new EncodingOptions { AssistantLoss = AssistantLoss.LastTurn });
        Assert.Equal("seven<|im_end|>\n", TrainedText(encoder.Encode(TwoTurns)!));
    }

    [Fact]
    public void Llama2_layout_trains_the_answer_and_its_eos()
    {
        var encoder = new ExampleEncoder(Tokenizer, DataTestSupport.Llama2Plain(), new EncodingOptions());
        var e = encoder.Encode(TwoTurns)!;
        Assert.Equal(" four </s> seven </s>", TrainedText(e));
    }

    [Fact]
    public void Prompt_completion_trains_the_completion_and_eos_only()
    {
        var encoder = new ExampleEncoder(Tokenizer, DataTestSupport.ChatMl(), new EncodingOptions());
        var e = encoder.Encode(new PromptCompletionRecord(3, "Question: capital of france? Answer:", " paris"))!;
        Assert.Equal(Tokenizer.TokenToId("<s>"), e.InputIds[0]);
        Assert.Equal(Tokenizer.TokenToId("<|im_end|>"), e.InputIds[^1]);
        Assert.Equal(" paris<|im_end|>", TrainedText(e));
        Assert.Equal(3, e.LineNumber);

        var asChat = new ExampleEncoder(Tokenizer, DataTestSupport.ChatMl(), new EncodingOptions { PromptCompletionAsChat = true });
        Assert.Equal(" paris<|im_end|>\n", TrainedText(asChat.Encode(new PromptCompletionRecord(3, "capital of france?", " paris"))!));
    }

    [Fact]
    public void Preference_pairs_share_the_prompt_and_train_each_answer()
    {
        var encoder = new ExampleEncoder(Tokenizer, DataTestSupport.ChatMl(), new EncodingOptions { PromptCompletionAsChat = true });
        var (chosen, rejected) = encoder.EncodePreference(new PreferenceRecord(1, "Say hi", "hello", "go away"))!.Value;
        Assert.Equal("hello<|im_end|>\n", TrainedText(chosen));
        Assert.Equal("go away<|im_end|>\n", TrainedText(rejected));
        var promptLength = chosen.Labels.TakeWhile(l => l == EncodedExample.IgnoreIndex).Count();
        Assert.Equal(chosen.InputIds[..promptLength], rejected.InputIds[..promptLength]);
    }

    [Theory]
    [InlineData(TruncationPolicy.Right)]
    [InlineData(TruncationPolicy.Left)]
    [InlineData(TruncationPolicy.Drop)]
    public void Truncation_policies(TruncationPolicy policy)
    {
        var full = new ExampleEncoder(Tokenizer, DataTestSupport.ChatMl(), new EncodingOptions()).Encode(TwoTurns)!;
        var max = full.Length - 5;
        var e = new ExampleEncoder(Tokenizer, DataTestSupport.ChatMl(), new EncodingOptions { MaxSeqLen = max, Truncation = policy }).Encode(TwoTurns);
        switch (policy)
        {
            case TruncationPolicy.Drop:
                Assert.Null(e);
                break;
            case TruncationPolicy.Right:
                Assert.Equal(full.InputIds[..max], e!.InputIds);
                Assert.Equal(full.Labels[..max], e.Labels);
                break;
            default:
                Assert.Equal(full.InputIds[^max..], e!.InputIds);
                Assert.Equal(full.Labels[^max..], e.Labels);
                break;
        }
        // Truncated so far that no answer token is left: nothing to learn, so the example is left out.
        Assert.Null(new ExampleEncoder(Tokenizer, DataTestSupport.ChatMl(), new EncodingOptions { MaxSeqLen = 4 }).Encode(TwoTurns));
    }
}

/// <summary>Boundaries that fall inside a token, and real templates end to end through the encoder.</summary>
public class LabelBoundaryTests
{
    private static readonly WordLevelTestTokenizer Tokenizer = WordLevelTestTokenizer.Default();

    [Fact]
    public void A_token_straddling_the_prompt_boundary_counts_as_completion()
    {
        // "fr" + "ance" is one vocabulary word: encoded whole, the word belongs to the completion side.
        var encoder = new ExampleEncoder(Tokenizer, DataTestSupport.ChatMl(), new EncodingOptions());
        var e = encoder.Encode(new PromptCompletionRecord(1, "the capital of fr", "ance"))!;
        var france = Tokenizer.TokenToId("france")!.Value;
        var at = Array.IndexOf(e.InputIds, france);
        Assert.True(at > 0);
        Assert.Equal(france, e.Labels[at]);
        Assert.All(e.Labels[..at], l => Assert.Equal(EncodedExample.IgnoreIndex, l));
    }

    [Theory]
    [InlineData("gemma3")]
    [InlineData("qwen3")]
    [InlineData("llama3")]
    public void Real_templates_encode_with_only_answers_trained(string family)
    {
        var template = ChatTemplate.TryLoad(Path.Combine(FineTuneLab.TestSupport.RepoPaths.SharedTestData, "tokenizers", family))!;
        var encoder = new ExampleEncoder(Tokenizer, template, new EncodingOptions());
        var e = encoder.Encode(new ChatRecord(1,
        [
            new ChatMessage("user", "what is the capital of france?"),
            new ChatMessage("assistant", "paris"),
            new ChatMessage("user", "and of italy?"),
            new ChatMessage("assistant", "rome"),
        ]))!;
        var trained = string.Concat(Enumerable.Range(0, e.Length).Where(i => e.Labels[i] != EncodedExample.IgnoreIndex).Select(i => Tokenizer.Decode([e.InputIds[i]])));
        Assert.Contains("paris", trained);
        Assert.Contains("rome", trained);
        Assert.DoesNotContain("capital", trained);
        Assert.DoesNotContain("italy", trained);
        Assert.Equal(template.Render(
            [new("user", "what is the capital of france?"), new("assistant", "paris"), new("user", "and of italy?"), new("assistant", "rome")], false),
            Tokenizer.Decode(e.InputIds));
    }
}
