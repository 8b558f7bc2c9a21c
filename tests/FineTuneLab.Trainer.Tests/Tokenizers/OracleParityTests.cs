using System.Text;
using FineTuneLab.Trainer.Tokenizers;

namespace FineTuneLab.Trainer.Tests.Tokenizers;

/// <summary>Hard cases compared with Hugging Face's own implementation (run through node): ids with and without special
/// tokens (post-processors), offsets, and decoded text with and without skipping special tokens.</summary>
public sealed class OracleParityTests
{
    public static TheoryData<string> Families => new(TokenizerFixtures.Families);

    [Theory]
    [MemberData(nameof(Families))]
    public async Task HardCasesMatchHuggingFace(string family)
    {
        var path = TokenizerFixtures.TokenizerJson(family);
        var tokenizer = TokenizerFixtures.Get(family);
        var reference = await HfOracle.EncodeAsync(path, HardCases.Texts);
        AssertSame(family, tokenizer, HardCases.Texts, reference);
    }

    internal static void AssertSame(string name, HfTokenizer tokenizer, IReadOnlyList<string> texts, List<OracleResult> reference)
    {
        var problems = new StringBuilder();
        var failed = 0;
        for (var i = 0; i < texts.Count; i++)
        {
            var text = texts[i];
            var hf = reference[i];
            var enc = tokenizer.EncodeWithOffsets(text);
            var withSpecial = tokenizer.Encode(text, addSpecialTokens: true);
            var offsets = enc.Offsets.Select(o => $"{o.Start}-{o.End}");
            var hfOffsets = hf.Offsets.Select(o => $"{o[0]}-{o[1]}");
            var issues = new List<string>();
            if (!enc.Ids.SequenceEqual(hf.Ids)) issues.Add($"ids\n    ours [{string.Join(",", enc.Ids)}]\n    hf   [{string.Join(",", hf.Ids)}]");
            if (!tokenizer.Encode(text).SequenceEqual(enc.Ids)) issues.Add("Encode differs from EncodeWithOffsets");
            if (!withSpecial.SequenceEqual(hf.IdsSpecial)) issues.Add($"ids with special tokens\n    ours [{string.Join(",", withSpecial)}]\n    hf   [{string.Join(",", hf.IdsSpecial)}]");
            if (!offsets.SequenceEqual(hfOffsets)) issues.Add($"offsets\n    ours {string.Join(" ", offsets)}\n    hf   {string.Join(" ", hfOffsets)}");
            var decoded = tokenizer.Decode(hf.Ids);
            if (decoded != hf.Decoded) issues.Add($"decode\n    ours \"{TokenizerCorpus.Escape(decoded)}\"\n    hf   \"{TokenizerCorpus.Escape(hf.Decoded)}\"");
            var decodedSkip = tokenizer.Decode(hf.IdsSpecial, skipSpecialTokens: true);
            if (decodedSkip != hf.DecodedSkip) issues.Add($"decode skipping special\n    ours \"{TokenizerCorpus.Escape(decodedSkip)}\"\n    hf   \"{TokenizerCorpus.Escape(hf.DecodedSkip)}\"");
            if (issues.Count == 0) continue;
            if (++failed <= 6) problems.AppendLine($"case {i} \"{TokenizerCorpus.Escape(text)}\": {string.Join("\n  ", issues)}");
        }
        Assert.True(failed == 0, $"{name}: {failed} of {texts.Count} cases differ from HF\n{problems}");
    }
}
