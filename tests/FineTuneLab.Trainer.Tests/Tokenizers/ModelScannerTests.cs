using System.Text;
using System.Text.Json.Nodes;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Tokenizers;

namespace FineTuneLab.Trainer.Tests.Tokenizers;

/// <summary>The byte-level reader of the model's vocabulary and merges: other layouts of the same JSON load the same
/// tokenizer, and bad input names its line or JSON path.</summary>
public sealed class ModelScannerTests
{
    /// <summary>Compact JSON with every non-ASCII character and some ASCII ones written as \u escapes, the merges before
    /// the vocabulary and the model before the other sections: the same ids, tokens and special tokens as the original.</summary>
    [Theory]
    [InlineData("llama2")] // merges as "a b", SentencePiece-style
    [InlineData("qwen3")]  // merges as ["a", "b"], byte-level
    public void EscapedAndReorderedJsonLoadsTheSameTokenizer(string family)
    {
        var root = JsonNode.Parse(File.ReadAllText(TokenizerFixtures.TokenizerJson(family)))!.AsObject();
        var model = root["model"]!.AsObject();
        var reorderedModel = new JsonObject();
        foreach (var name in model.Select(p => p.Key).OrderBy(k => k == "merges" ? 0 : 1).ToList())
        {
            var value = model[name];
            model.Remove(name);
            reorderedModel[name] = value;
        }
        var reordered = new JsonObject { ["model"] = reorderedModel };
        foreach (var name in root.Select(p => p.Key).Where(k => k != "model").ToList())
        {
            var value = root[name];
            root.Remove(name);
            reordered[name] = value;
        }
        var json = reordered.ToJsonString(); // the default encoder escapes non-ASCII, '+', '<', '>', '&', '\''
        Assert.Contains("\\u", json);
        var copy = HfTokenizer.Load(Write($"escaped-{family}", json));
        var original = TokenizerFixtures.Get(family);

        Assert.Equal(original.VocabSize, copy.VocabSize);
        for (var id = 0; id < original.VocabSize; id += 97) Assert.Equal(original.IdToToken(id), copy.IdToToken(id));
        foreach (var item in TokenizerFixtures.DevItems.Take(200))
            Assert.Equal(original.Encode(item, addSpecialTokens: true), copy.Encode(item, addSpecialTokens: true));
    }

    [Fact]
    public void APairListedTwiceKeepsItsLaterRank()
    {
        // (a, b) at rank 2 loses to (b, c) at rank 1; listed once, at rank 0, it would win.
        const string vocab = """{"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4}""";
        var once = HfTokenizer.Load(Write("pair-once", $$$"""{"model": {"type": "BPE", "vocab": {{{vocab}}}, "merges": ["a b", "b c"]}}"""));
        var twice = HfTokenizer.Load(Write("pair-twice", $$$"""{"model": {"type": "BPE", "vocab": {{{vocab}}}, "merges": ["a b", "b c", "a b"]}}"""));
        Assert.Equal([3, 2], once.Encode("abc"));
        Assert.Equal([0, 4], twice.Encode("abc"));
    }

    [Fact]
    public void AContinuingSubwordPrefixGivenAfterTheMergesIsApplied()
    {
        // The merged token drops the prefix of b: ["a", "##b"] makes "ab". Read with no prefix it would be "a##b",
        // which is not in the vocabulary.
        var json = """{"model": {"type": "BPE", "vocab": {"a": 0, "##b": 1, "ab": 2}, "merges": [["a", "##b"]], "continuing_subword_prefix": "##"}}""";
        Assert.Equal([2], HfTokenizer.Load(Write("late-prefix", json)).Encode("ab"));
    }

    [Fact]
    public void EscapesInTokensAreDecoded()
    {
        var json = """{"model": {"type": "BPE", "vocab": {"\"": 0, "\\": 1, "\"\\": 2, "\u00e9": 3, "\ud83d\ude00": 4, "\u00e9\ud83d\ude00": 5},""" +
                   """ "merges": ["\" \\", ["\u00e9", "\ud83d\ude00"]]}}""";
        var tokenizer = HfTokenizer.Load(Write("escapes", json));
        Assert.Equal([2, 5], tokenizer.Encode("\"\\é😀"));
        Assert.Equal("é😀", tokenizer.IdToToken(5));
    }

    [Theory]
    [InlineData("""{"model": {"vocab": {"a": 0},\n "merges": ["a a",, "b"]}}""", "line 2")]
    [InlineData("""{"model": {"vocab": {"a": 0, "b<CONTROL>": 1}}}""", "line 1")]
    [InlineData("""{"model": {"vocab": {"\ud800": 0}}}""", "line 1")]
    [InlineData("""{"model": {"vocab": {"a": 01}}}""", "line 1")]
    [InlineData("""{"model": {"vocab": {"a": 0}""", "line 1")]
    public void MalformedModelJsonNamesTheLine(string json, string where)
    {
        // In the raw strings above \n stands for a line break and <CONTROL> for a raw control character.
        var path = Write("malformed-model", json.Replace("\\n", "\n").Replace("<CONTROL>", "\u0001"));
        var e = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.Load(path));
        Assert.StartsWith(where, e.JsonPath);
        Assert.Contains("malformed JSON", e.Message);
    }

    [Theory]
    [InlineData("""{"model": {"vocab": {"a": 0, "b": -1}}}""", "$.model.vocab[\"b\"]")]
    [InlineData("""{"model": {"vocab": {"a": 0, "b": 1.5}}}""", "$.model.vocab[\"b\"]")]
    [InlineData("""{"model": {"vocab": {"a": "x"}}}""", "$.model.vocab[\"a\"]")]
    [InlineData("""{"model": {"vocab": {"a": 0}, "merges": [["a"]]}}""", "$.model.merges[0]")]
    [InlineData("""{"model": {"vocab": {"a": 0}, "merges": ["a a", 7]}}""", "$.model.merges[1]")]
    [InlineData("""{"model": {"vocab": {"a": 0}, "merges": ["a a b"]}}""", "$.model.merges[0]")]
    [InlineData("""{"model": {"vocab": {"a": 0}, "merges": {}}}""", "$.model.merges")]
    [InlineData("""{"model": {"vocab": {"a": 0}, "vocab": {"a": 0}}}""", "$.model.vocab")]
    [InlineData("""{"model": {"merges": []}}""", "$.model.vocab")]
    public void AWrongShapeNamesItsJsonPath(string json, string expectedPath)
    {
        var e = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.Load(Write("bad-shape", json)));
        Assert.Equal(expectedPath, e.JsonPath);
    }

    /// <summary>Malformed JSON at the end of a large file: the merge resolver is busy on another thread when the scan
    /// fails, and must be stopped before the mapped file is closed (else it would read unmapped memory).</summary>
    [Fact]
    public void MalformedJsonAfterManyMergesFailsCleanly()
    {
        var text = File.ReadAllText(TokenizerFixtures.TokenizerJson("llama3"));
        var lastMerge = text.LastIndexOf("\"\n    ]", StringComparison.Ordinal);
        Assert.True(lastMerge > 0);
        var path = Write("late-malformed", text.Insert(lastMerge + 1, ",,"));
        var expectedLine = text[..lastMerge].Count(c => c == '\n') + 1;
        for (var round = 0; round < 3; round++)
        {
            var e = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.Load(path));
            Assert.StartsWith($"line {expectedLine},", e.JsonPath);
        }
    }

    [Fact]
    public void ATokenThatIsNotUtf8IsRefused()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"model": {"vocab": {"a": 0, "bX": 1}}}""");
        bytes[Array.IndexOf(bytes, (byte)'X')] = 0xFF;
        var path = Write("not-utf8", "");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.Load(path));
        Assert.Contains("id 1", e.Message);
    }

    private static string Write(string name, string content)
    {
        var dir = Path.Combine(RepoPaths.Cache, "tokenizer-scanner-tests", name);
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "tokenizer.json");
        File.WriteAllText(path, content);
        return path;
    }
}
