using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Data;
using FineTuneLab.Trainer.Tokenizers;
using FineTuneLab.Trainer.Tokenizers.Jinja;

namespace FineTuneLab.Trainer.Tests.Data;

/// <summary>
/// Label masking through the real tokenizers and templates of each family (the word-level tests pin the exact
/// boundaries; these show the boundaries survive real BPE merges, SentencePiece prefixes and real templates).
/// </summary>
public class RealTokenizerLabelTests
{
    private static readonly ChatRecord Conversation = new(1,
    [
        new ChatMessage("system", "You are a terse assistant."),
        new ChatMessage("user", "What is two plus two?"),
        new ChatMessage("assistant", "Four, obviously."),
        new ChatMessage("user", "And three plus four?"),
        new ChatMessage("assistant", "Seven."),
    ]);

    [Theory]
    [InlineData("llama3")]
    [InlineData("qwen3")]
    [InlineData("gemma3")]
    [InlineData("llama2")]
    [InlineData("gpt4o")]
    public void Only_assistant_answers_carry_loss(string family)
    {
        var dir = Path.Combine(RepoPaths.SharedTestData, "tokenizers", family);
        var tokenizer = HfTokenizer.Load(dir);
        var template = ChatTemplateResolver.Resolve(dir, tokenizer);
        var encoder = new ExampleEncoder(tokenizer, template, new EncodingOptions());
        var e = encoder.Encode(Conversation)!;

        var rendered = template.Render(Conversation.Messages, false);
        Assert.Equal(tokenizer.Encode(rendered), e.InputIds);

        var trained = new List<int>();
        var context = new List<int>();
        for (var i = 0; i < e.Length; i++)
        {
            if (e.Labels[i] == EncodedExample.IgnoreIndex) context.Add(e.InputIds[i]);
            else { Assert.Equal(e.InputIds[i], e.Labels[i]); trained.Add(e.InputIds[i]); }
        }
        var trainedText = tokenizer.Decode(trained.ToArray());
        var contextText = tokenizer.Decode(context.ToArray());
        Assert.Contains("Four, obviously.", trainedText);
        Assert.Contains("Seven.", trainedText);
        Assert.DoesNotContain("two plus two", trainedText);
        Assert.DoesNotContain("three plus four", trainedText);
        Assert.DoesNotContain("terse", trainedText);
        Assert.Contains("two plus two", contextText);
        Assert.DoesNotContain("obviously", contextText);
    }
}
