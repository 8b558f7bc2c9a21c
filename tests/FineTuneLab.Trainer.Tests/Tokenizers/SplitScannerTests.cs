using System.Text;
using System.Text.RegularExpressions;
using FineTuneLab.Trainer.Tokenizers;

namespace FineTuneLab.Trainer.Tests.Tokenizers;

/// <summary>The hand-written pre-tokenizer scanners give the same matches as a backtracking regex engine running the
/// pattern itself (.NET Regex, whose classes agree with Oniguruma's inside the BMP), on the corpus and on random text.</summary>
public sealed class SplitScannerTests
{
    public static TheoryData<string> Patterns => new(
        SplitMatchers.Gpt2Pattern, SplitMatchers.Cl100kPattern, SplitMatchers.QwenPattern, SplitMatchers.O200kPattern);

    // Letters of every case class, marks, digits of several kinds, whitespace kinds, punctuation, apostrophes.
    private const string Alphabet = "aZsStTrReEvVmMlLdD'' \t\n\r\u00A0\u3000\u2028ǅʰ中ा\u0301\u0308ß1٣½Ⅷ.,!?-_/\\\"{}()#@$%^&*+=<>~`|;:";

    [Theory]
    [MemberData(nameof(Patterns))]
    public void ScannerMatchesTheRegexOnCorpusAndRandomText(string pattern)
    {
        var scanner = SplitMatchers.KnownScanner(pattern);
        Assert.NotNull(scanner);
        var regex = new Regex(pattern, RegexOptions.CultureInvariant);
        var random = new Random(1234);
        var texts = TokenizerFixtures.DevItems.Concat(HardCases.Texts)
            .Where(t => !t.Any(char.IsSurrogate) && !t.Contains('\u017F'))
            .Concat(Enumerable.Range(0, 3000).Select(_ =>
            {
                var sb = new StringBuilder();
                var n = random.Next(1, 24);
                for (var i = 0; i < n; i++) sb.Append(Alphabet[random.Next(Alphabet.Length)]);
                return sb.ToString();
            }));
        foreach (var text in texts)
        {
            var expected = regex.Matches(text).Select(m => (m.Index, m.Index + m.Length)).ToList();
            var actual = new List<(int, int)>();
            for (var pos = 0; pos < text.Length && scanner!.Find(text, pos, out var s, out var e); pos = e) actual.Add((s, e));
            Assert.True(expected.SequenceEqual(actual),
                $"\"{TokenizerCorpus.Escape(text)}\"\n regex   {string.Join(" ", expected)}\n scanner {string.Join(" ", actual)}");
        }
    }
}
