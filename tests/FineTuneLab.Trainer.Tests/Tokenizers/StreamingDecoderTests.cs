using System.Text;

namespace FineTuneLab.Trainer.Tests.Tokenizers;

public sealed class StreamingDecoderTests
{
    public static TheoryData<string> Families => new(TokenizerFixtures.Families);

    [Theory]
    [MemberData(nameof(Families))]
    public void StreamedPiecesJoinToTheFullDecodeAndNeverEndMidCharacter(string family)
    {
        var tokenizer = TokenizerFixtures.Get(family);
        foreach (var text in HardCases.Texts.Concat(TokenizerFixtures.DevItems.Take(200)))
        {
            var ids = tokenizer.Encode(text, addSpecialTokens: true);
            var full = tokenizer.Decode(ids);
            var stream = tokenizer.CreateStreamingDecoder();
            var sb = new StringBuilder();
            foreach (var id in ids)
            {
                var piece = stream.Step(id);
                if (piece is null) continue;
                Assert.False(piece.EndsWith('\uFFFD'), $"{family}: a streamed piece ends in a partial character for \"{text}\"");
                sb.Append(piece);
            }
            // Text still held back at the end is an incomplete character; everything before it must have come out.
            var streamed = sb.ToString();
            Assert.True(full.StartsWith(streamed, StringComparison.Ordinal), $"{family}: streamed \"{streamed}\" is not a prefix of \"{full}\"");
            if (!full.EndsWith('\uFFFD')) Assert.Equal(full, streamed);
        }
    }

    [Fact]
    public void HoldsBackAnEmojiSplitAcrossByteTokensUntilItIsComplete()
    {
        var tokenizer = TokenizerFixtures.Get("llama3");
        var ids = tokenizer.Encode("a😀");
        Assert.True(ids.Length >= 3, "the emoji should take more than one byte-level token");
        var stream = tokenizer.CreateStreamingDecoder();
        var outputs = ids.Select(stream.Step).ToList();
        Assert.Equal("a", outputs[0]);
        Assert.All(outputs.Skip(1).SkipLast(1), o => Assert.Null(o));
        Assert.Equal("😀", outputs[^1]);
    }
}
