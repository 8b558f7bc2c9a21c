using System.Text;
using FineTuneLab.Trainer.Tokenizers;

namespace FineTuneLab.Trainer.Tests.Tokenizers;

/// <summary>Every item of the shared corpus, every family: our ids equal Hugging Face tokenizers' ids.</summary>
public sealed class CorpusParityTests
{
    public static TheoryData<string> Families => new(TokenizerFixtures.Families);

    [Theory]
    [MemberData(nameof(Families))]
    public void EncodesTheWholeDevCorpusLikeHuggingFace(string family)
    {
        var tokenizer = TokenizerFixtures.Get(family);
        var items = TokenizerFixtures.DevItems;
        var expected = TokenizerFixtures.Expected(family);
        Assert.Equal(items.Count, expected.Count);

        var failures = new StringBuilder();
        var failed = 0;
        for (var i = 0; i < items.Count; i++)
        {
            var ids = tokenizer.Encode(items[i]);
            if (ids.AsSpan().SequenceEqual(expected[i])) continue;
            if (++failed <= 5)
                failures.AppendLine($"item {i + 1} \"{TokenizerCorpus.Escape(items[i])}\"\n  ours [{string.Join(",", ids)}]\n  hf   [{string.Join(",", expected[i])}]");
        }
        Assert.True(failed == 0, $"{family}: {failed} of {items.Count} items differ\n{failures}");
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void BatchEncodingEqualsOneByOne(string family)
    {
        var tokenizer = TokenizerFixtures.Get(family);
        var items = TokenizerFixtures.DevItems;
        var batch = tokenizer.EncodeBatch(items, addSpecialTokens: true, maxDegreeOfParallelism: 2);
        for (var i = 0; i < items.Count; i++)
            Assert.Equal(tokenizer.Encode(items[i], addSpecialTokens: true), batch[i]);
    }
}
