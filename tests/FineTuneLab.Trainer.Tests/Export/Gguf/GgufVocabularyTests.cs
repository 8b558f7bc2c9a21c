using System.Text;
using FineTuneLab.Trainer.Export.Gguf;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Tests.Tokenizers;
using LLama;
using LLama.Common;
using Xunit.Abstractions;

namespace FineTuneLab.Trainer.Tests.Export.Gguf;

/// <summary>
/// The tokenizer metadata of real tokenizers (the shared Llama 3, Qwen3 and GPT-4o tokenizer.json files): the
/// pre-tokenizer name by convert_hf_to_gguf.py's hash rule, and llama.cpp loading our vocabulary (vocab-only) and
/// tokenizing the tokenizer corpus exactly as the Hugging Face tokenizer does. Two differences are llama.cpp's own and
/// kept out: it does not run a tokenizer's NFC normalizer (Qwen's), so texts are given NFC-normalized; and its regex
/// classifies combining marks (categories Mn/Mc: Myanmar, stacked diacritics) differently from the Rust regex crate,
/// so corpus items holding them are counted and reported, not compared.
/// </summary>
public sealed class GgufVocabularyTests(ITestOutputHelper output)
{
    [Theory]
    // this llama3 tokenizer.json adds no BOS in its post-processor, so its ids hash as Smaug-Llama-3's (same regex)
    [InlineData("llama3", "smaug-bpe", "c136ed14d01c2745d4f60a9596ae66800e2b61fa45643e72436041855ad4089d")]
    [InlineData("qwen3", "qwen2", "e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea")]
    [InlineData("gpt4o", "gpt-4o", "ccc2ef013c104be7bae2965776d611e1d7a8a2a9c547dd93a682c9a9fc80352e")]
    // SentencePiece-style (byte fallback): llama.cpp's "llama" tokenizer with scores from the merge ranks
    [InlineData("llama2", "default", null)]
    [InlineData("gemma3", "default", null)]
    public void Real_tokenizers_get_the_converters_pre_tokenizer_and_tokenize_identically_in_llama_cpp(string family, string pre, string? hash)
    {
        var tokenizer = TokenizerFixtures.Get(family);
        if (hash is not null) Assert.Equal(hash, GgufVocabulary.CheckHash(tokenizer));

        using var tmp = new Inference.TempDir();
        var dir = Path.Combine(TokenizerFixtures.Dir, family);
        var config = HfConfig.Parse($$"""
            {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
             "num_attention_heads": 2, "vocab_size": {{tokenizer.VocabSize}}, "max_position_embeddings": 128}
            """);
        var m = new GgufMetadata();
        m.String("general.architecture", "llama");
        GgufArchitecture.For(config, "config").WriteHyperParameters(m);
        var vocab = GgufVocabulary.Write(m, dir, tokenizer.VocabSize);
        Assert.Equal(pre, vocab.PreTokenizer);
        var path = Path.Combine(tmp.Path, "vocab.gguf");
        GgufWriter.Write(path, m, []);

        LlamaCpp.EnsureLoaded();
        using var weights = LLamaWeights.LoadFromFile(new ModelParams(path) { VocabOnly = true });
        Assert.Equal(tokenizer.VocabSize, weights.Vocab.Count);
        var nfc = FineTuneLab.Trainer.Tokenizers.IcuNormalization.Get(NormalizationForm.FormC); // ICU (the process runs with invariant globalization)
        var all = TokenizerFixtures.DevItems.Take(400).Select(t => nfc.Normalize(t)).ToList();
        static bool HasCombiningMark(string t) => t.Any(c => char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.NonSpacingMark or System.Globalization.UnicodeCategory.SpacingCombiningMark);
        // a literal "▁" in the text: llama.cpp's SentencePiece path reads user-defined "▁" pieces as spaces (as the
        // converter writes them), the Hugging Face tokenizer matches them as written
        bool spm = vocab.PreTokenizer == "default";
        var items = all.Where(t => !HasCombiningMark(t) && !(spm && t.Contains('\u2581'))).ToList();
        int same = 0, shown = 0;
        foreach (var text in items)
        {
            var ours = tokenizer.Encode(text, addSpecialTokens: false);
            // special: true — the Hugging Face tokenizer matches added special tokens inside text, so llama.cpp must too
            var theirs = weights.Tokenize(text, add_bos: false, special: true, Encoding.UTF8).Select(t => (int)t).ToArray();
            if (ours.AsSpan().SequenceEqual(theirs)) same++;
            else if (shown++ < 4) output.WriteLine($"differs: {System.Text.Json.JsonSerializer.Serialize(text)}: ours [{string.Join(",", ours)}] llama.cpp [{string.Join(",", theirs)}]");
        }
        output.WriteLine($"{family}: pre {vocab.PreTokenizer}, {same}/{items.Count} corpus items tokenized identically by llama.cpp ({all.Count - items.Count} with combining marks{(spm ? " or a literal ▁" : "")} not compared)");
        Assert.Equal(items.Count, same);
    }
}
