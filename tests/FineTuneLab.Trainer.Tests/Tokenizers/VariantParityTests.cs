using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Tokenizers;

namespace FineTuneLab.Trainer.Tests.Tokenizers;

/// <summary>Real tokenizer files changed to use components the five families do not (added-token flags lstrip / rstrip /
/// single_word / normalized, Metaspace pre-tokenizer and decoder, NFKC + Lowercase, a BOS+EOS template), each
/// compared with HF on the hard cases plus texts aimed at the change.</summary>
public sealed class VariantParityTests
{
    private static readonly string[] FlagTexts =
    [
        " <|begin_of_text|> x", "a  <|begin_of_text|>b", "<|begin_of_text|><|begin_of_text|>",
        "a <|end_of_text|>  b", "<|end_of_text|>\n\nnext", "x<|end_of_text|> <|begin_of_text|> y",
        "x<|reserved_special_token_0|>y z <|reserved_special_token_0|> w", "<|reserved_special_token_0|>",
        "_<|reserved_special_token_0|>_ é<|reserved_special_token_0|>",
        "Say hello world, hellohello HELLO", "tok <|reserved_special_token_1|> tok<|reserved_special_token_1|>",
    ];

    private static readonly string[] MetaspaceTexts =
    [
        "Hello world", " two  spaces ", "<s> after special", "a<s>b</s> c", "▁already▁meta", "x", " ",
    ];

    [Fact]
    public Task AddedTokenFlagsAndTemplateMatchHuggingFace() => Check("llama3-flags", "llama3", root =>
    {
        var added = root["added_tokens"]!.AsArray();
        JsonObject Token(string content) => added.Select(t => t!.AsObject()).First(t => (string?)t["content"] == content);
        Token("<|begin_of_text|>")["lstrip"] = true;
        Token("<|end_of_text|>")["rstrip"] = true;
        Token("<|reserved_special_token_0|>")["single_word"] = true;
        var r1 = Token("<|reserved_special_token_1|>");
        r1["normalized"] = true;
        r1["special"] = false;
        added.Add(new JsonObject
        {
            ["id"] = 128256, ["content"] = "hello", ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
            ["normalized"] = true, ["special"] = false,
        });
        root["post_processor"] = JsonNode.Parse("""
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                        {"SpecialToken": {"id": "<|end_of_text|>", "type_id": 0}}],
             "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [128000], "tokens": ["<|begin_of_text|>"]},
                                "<|end_of_text|>": {"id": "<|end_of_text|>", "ids": [128001], "tokens": ["<|end_of_text|>"]}}}
            """);
    }, FlagTexts);

    [Theory]
    [InlineData("first", false)]
    [InlineData("always", true)]
    [InlineData("never", true)]
    public Task MetaspaceMatchesHuggingFace(string scheme, bool split) => Check($"llama2-metaspace-{scheme}-{split}", "llama2", root =>
    {
        root["normalizer"] = null;
        root["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = scheme, ["split"] = split };
        root["decoder"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = scheme, ["split"] = split };
    }, MetaspaceTexts);

    [Fact]
    public Task NfkcLowercaseMatchesHuggingFace() => Check("qwen3-nfkc-lower", "qwen3", root =>
    {
        root["normalizer"] = JsonNode.Parse("""{"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]}""");
    }, ["İstanbul ΣΑΣ Ǆ ﬁne ① ｶﾞ ＡＢＣ e\u0301", "MiXeD CaSe ẞ ß"]);

    private static async Task Check(string name, string family, Action<JsonObject> change, string[] extraTexts)
    {
        var root = JsonNode.Parse(await File.ReadAllTextAsync(TokenizerFixtures.TokenizerJson(family)))!.AsObject();
        change(root);
        var json = root.ToJsonString();
        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(json)))[..16].ToLowerInvariant();
        var dir = Path.Combine(RepoPaths.Cache, "tokenizer-variants", $"{name}-{hash}");
        var path = Path.Combine(dir, "tokenizer.json");
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(dir);
            await File.WriteAllTextAsync(path + ".tmp", json);
            File.Move(path + ".tmp", path, overwrite: true);
        }
        var texts = HardCases.Texts.Concat(extraTexts).ToArray();
        var reference = await HfOracle.EncodeAsync(path, texts);
        OracleParityTests.AssertSame(name, HfTokenizer.Load(path), texts, reference);
    }
}
