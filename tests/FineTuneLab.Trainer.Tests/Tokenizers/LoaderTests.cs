using System.Text.Json.Nodes;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Tokenizers;

namespace FineTuneLab.Trainer.Tests.Tokenizers;

public sealed class LoaderTests
{
    [Theory]
    [InlineData("llama2", 1, 2, null, 32000)]
    [InlineData("gemma3", 2, 106, 0, 262145)]
    [InlineData("llama3", 128000, 128001, null, 128256)]
    [InlineData("qwen3", null, 151645, 151643, 151669)]
    [InlineData("gpt4o", 199999, 199999, null, 200019)]
    public void ReadsSpecialTokenIdsFromTokenizerConfig(string family, int? bos, int? eos, int? pad, int vocabSize)
    {
        var tokenizer = TokenizerFixtures.Get(family);
        Assert.Equal(bos, tokenizer.BosTokenId);
        Assert.Equal(eos, tokenizer.EosTokenId);
        Assert.Equal(pad, tokenizer.PadTokenId);
        Assert.Equal(vocabSize, tokenizer.VocabSize);
    }

    [Fact]
    public void TokenAndIdLookupsRoundTrip()
    {
        var tokenizer = TokenizerFixtures.Get("llama3");
        Assert.Equal(128000, tokenizer.TokenToId("<|begin_of_text|>"));
        Assert.Equal("<|begin_of_text|>", tokenizer.IdToToken(128000));
        Assert.Equal("Hello", tokenizer.IdToToken(tokenizer.TokenToId("Hello")!.Value));
        Assert.Null(tokenizer.TokenToId("no such token at all"));
        Assert.Null(tokenizer.IdToToken(-1));
        Assert.Null(tokenizer.IdToToken(10_000_000));
    }

    [Fact]
    public void MalformedJsonNamesTheLine()
    {
        var path = Write("malformed", "{\n  \"model\": {\n    \"vocab\": {\"a\": 0,,}\n  }\n}");
        var e = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.Load(path));
        Assert.Contains("line 3", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Theory]
    [InlineData("normalizer", """{"type": "Fancy"}""", "$.normalizer.type")]
    [InlineData("pre_tokenizer", """{"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}, {"type": "Nope"}]}""", "$.pre_tokenizer.pretokenizers[1].type")]
    [InlineData("decoder", """{"type": "Sequence", "decoders": [{"type": "CTC"}]}""", "$.decoder.decoders[0].type")]
    [InlineData("post_processor", """{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<x>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {}}""", "$.post_processor.special_tokens")]
    public void UnsupportedOrBrokenComponentsNameTheirJsonPath(string section, string json, string expectedPath)
    {
        var root = JsonNode.Parse(File.ReadAllText(TokenizerFixtures.TokenizerJson("llama2")))!.AsObject();
        root[section] = JsonNode.Parse(json);
        var e = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.Load(Write($"bad-{section}", root.ToJsonString())));
        Assert.Equal(expectedPath, e.JsonPath);
    }

    [Fact]
    public void AMergeOfUnknownTokensNamesTheMergeIndex()
    {
        var json = """{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", "a c"]}}""";
        var e = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.Load(Write("bad-merge", json)));
        Assert.Equal("$.model.merges[1]", e.JsonPath);
        Assert.Contains("\"c\"", e.Message);
    }

    [Fact]
    public void AMinimalModelWithoutPipelineComponentsEncodes()
    {
        var json = """{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "abb": 3}, "merges": [["a", "b"], ["ab", "b"]]}}""";
        var tokenizer = HfTokenizer.Load(Write("minimal", json));
        Assert.Equal([3, 0], tokenizer.Encode("abba"));
        Assert.Equal("abb a", tokenizer.Decode([3, 0]));
    }

    private static string Write(string name, string content)
    {
        var dir = Path.Combine(RepoPaths.Cache, "tokenizer-loader-tests", name);
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "tokenizer.json");
        File.WriteAllText(path, content);
        return path;
    }
}
