using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FineTuneLab.Trainer.Tokenizers;
using FineTuneLab.Trainer.Tokenizers.Jinja;

namespace FineTuneLab.Trainer.Export.Gguf;

/// <summary>
/// The tokenizer of a Hugging Face folder as llama.cpp reads it (what convert_hf_to_gguf.py's get_vocab_base and
/// gguf.SpecialVocab write for a byte-level BPE tokenizer): <c>tokenizer.ggml.model</c> "gpt2", the tokens by id
/// (ids the tokenizer lacks up to the model's vocab_size become "[PAD{i}]", unused), their types (added special
/// tokens and tokens that look special are control tokens, other added tokens user-defined), the merges in rank
/// order as "a b", BOS/EOS/PAD ids, whether BOS/EOS are added, the chat template, and <c>tokenizer.ggml.pre</c>, the
/// pre-tokenizer llama.cpp must run. SentencePiece-style tokenizers (byte fallback) become llama.cpp's "llama"
/// tokenizer (<see cref="WriteSentencePiece"/>).
/// </summary>
public static class GgufVocabulary
{
    // convert_hf_to_gguf.py's TokenType values
    private const int Normal = 1, Control = 3, UserDefined = 4, Unused = 5;

    /// <summary>The text convert_hf_to_gguf.py's get_vocab_base_pre encodes; the SHA-256 of str(ids) names the pre-tokenizer.</summary>
    public const string PreTokenizerCheckText = "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL";

    /// <summary>The hashes convert_hf_to_gguf.py maps to the pre-tokenizers of the families this trainer exports.</summary>
    private static readonly Dictionary<string, string> KnownHashes = new(StringComparer.Ordinal)
    {
        ["0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5"] = "llama-bpe", // Meta-Llama-3(.1, .2)
        ["c136ed14d01c2745d4f60a9596ae66800e2b61fa45643e72436041855ad4089d"] = "smaug-bpe",
        ["e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea"] = "qwen2",     // Qwen1.5/2/2.5
        ["d4540891389ea895b53b399da6ac824becc30f2fba0e9ddbb98f92e55ca0e97c"] = "qwen2",     // Qwen3
        ["b3f499bb4255f8ca19fccd664443283318f2fd2414d5e0b040fbdd0cc195d6c5"] = "deepseek-r1-qwen",
        ["3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454"] = "gpt-2",
        ["855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249"] = "smollm",
        ["63b97e4253352e6f357cc59ea5b583e3a680eaeaf2632188c2b952de2588485e"] = "tekken",    // Mistral Nemo
        ["ccc2ef013c104be7bae2965776d611e1d7a8a2a9c547dd93a682c9a9fc80352e"] = "gpt-4o",
        ["fcace8b9cac38ce847670c970cd5892031a753a1ef381abd1d9af00f713da085"] = "phi-2",
    };

    /// <summary>Split patterns whose llama.cpp pre-tokenizer is known, for tokenizers whose hash is not in the table.</summary>
    private static readonly Dictionary<string, string> KnownSplitPatterns = new(StringComparer.Ordinal)
    {
        [@"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"] = "llama-bpe",
        [@"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"] = "qwen2",
    };

    public sealed record Result(string PreTokenizer, string PreTokenizerRule, int TokenCount, string? ChatTemplate, IReadOnlyList<string> StopTokens);

    /// <summary>Adds the tokenizer.* keys for the folder's tokenizer, its token list padded to <paramref name="vocabSize"/>.</summary>
    public static Result Write(GgufMetadata m, string modelDir, int vocabSize)
    {
        var path = Path.Combine(modelDir, "tokenizer.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: GGUF export needs the model's tokenizer.json", path);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = doc.RootElement;
        var model = root.GetProperty("model");
        var type = model.TryGetProperty("type", out var t) ? t.GetString() : null;
        bool byteFallback = model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True;
        if (type == "BPE" && byteFallback) return WriteSentencePiece(m, modelDir, path, root, vocabSize);
        if (type != "BPE" || !HasByteLevel(root.GetProperty("pre_tokenizer")))
            throw new InvalidDataException($"{path}: a {type} tokenizer without a ByteLevel pre-tokenizer or byte fallback; " +
                "the GGUF export writes byte-level BPE tokenizers (Llama 3, Qwen, Mistral Nemo, GPT-2 style) and SentencePiece-style BPE with byte fallback (Llama 2, Gemma)");

        var tokenizer = HfTokenizer.Load(modelDir);
        var tokens = new string?[vocabSize];
        foreach (var p in model.GetProperty("vocab").EnumerateObject())
        {
            var id = p.Value.GetInt32();
            if (id >= vocabSize) throw new InvalidDataException($"{path}: token '{p.Name}' has id {id}, beyond the model's vocab_size {vocabSize}");
            tokens[id] = p.Name;
        }
        var types = new int[vocabSize];
        Array.Fill(types, Normal);
        foreach (var a in tokenizer.AddedTokens)
        {
            if (a.Id >= vocabSize) throw new InvalidDataException($"{path}: added token '{a.Content}' has id {a.Id}, beyond the model's vocab_size {vocabSize}");
            tokens[a.Id] = a.Content;
            types[a.Id] = a.Special || LooksSpecial(a.Content) ? Control : UserDefined;
        }
        for (int i = 0; i < vocabSize; i++)
            if (tokens[i] is null) { tokens[i] = $"[PAD{i}]"; types[i] = Unused; }

        var merges = new List<string>();
        if (model.TryGetProperty("merges", out var ms))
            foreach (var e in ms.EnumerateArray())
                merges.Add(e.ValueKind == JsonValueKind.String ? e.GetString()! : string.Join(' ', e.EnumerateArray().Select(x => x.GetString())));

        var (pre, rule) = PreTokenizerOf(tokenizer, root.GetProperty("pre_tokenizer"), path);
        m.String("tokenizer.ggml.model", "gpt2");
        m.String("tokenizer.ggml.pre", pre);
        m.Strings("tokenizer.ggml.tokens", tokens!);
        m.Int32s("tokenizer.ggml.token_type", types);
        m.Strings("tokenizer.ggml.merges", merges);

        return WriteSpecialTokensAndTemplate(m, modelDir, tokenizer, pre, rule, vocabSize);
    }

    private static Result WriteSpecialTokensAndTemplate(GgufMetadata m, string modelDir, HfTokenizer tokenizer, string pre, string rule, int vocabSize)
    {
        var config = Path.Combine(modelDir, "tokenizer_config.json");
        var special = File.Exists(config) ? ChatTemplate.ReadSpecialTokens(config) : new Dictionary<string, string>();
        int? Id(string name) => special.TryGetValue(name, out var s) ? tokenizer.TokenToId(s) : null;
        var bos = Id("bos_token");
        var eos = Id("eos_token");
        var pad = Id("pad_token");
        if (bos is { } b) m.UInt32("tokenizer.ggml.bos_token_id", b);
        if (eos is { } e2) m.UInt32("tokenizer.ggml.eos_token_id", e2);
        if (Id("unk_token") is { } u) m.UInt32("tokenizer.ggml.unknown_token_id", u);
        if (pad is { } p2) m.UInt32("tokenizer.ggml.padding_token_id", p2);
        // What transformers adds by default: tokenizer_config.json says so, else the post-processor does it.
        var empty = tokenizer.Encode("", addSpecialTokens: true);
        m.Bool("tokenizer.ggml.add_bos_token", tokenizer.AddBosToken ?? (bos is { } bb && empty.Length > 0 && empty[0] == bb));
        m.Bool("tokenizer.ggml.add_eos_token", tokenizer.AddEosToken ?? (eos is { } ee && empty.Length > 0 && empty[^1] == ee));

        var template = ChatTemplate.TryLoad(modelDir);
        if (template is not null) m.String("tokenizer.chat_template", template.Source);
        var stops = new List<string>();
        if (special.TryGetValue("eos_token", out var eosText)) stops.Add(eosText);
        return new Result(pre, rule, vocabSize, template?.Source, stops);
    }

    /// <summary>
    /// A SentencePiece-style tokenizer (BPE with byte fallback, "▁" for spaces: Llama 2, Gemma) as llama.cpp's "llama"
    /// tokenizer: pieces as stored, <c>&lt;0xNN&gt;</c> byte tokens typed byte, the unknown token unknown, added tokens
    /// control (special, or looking special) or user-defined with "▁" read as a space (score -1000), as
    /// convert_hf_to_gguf.py's _create_vocab_sentencepiece marks them. llama.cpp merges the adjacent pair whose joined
    /// piece has the highest score; tokenizer.json keeps no scores but ranks its merges by them, so a piece scores
    /// minus the rank of the first merge that makes it, which gives llama.cpp's merge order the tokenizer's.
    /// <c>add_space_prefix</c> is whether the normalizer prepends "▁" (Llama 2 yes, Gemma no).
    /// </summary>
    private static Result WriteSentencePiece(GgufMetadata m, string modelDir, string path, JsonElement root, int vocabSize)
    {
        const int Unknown = 2, Byte = 6;
        var model = root.GetProperty("model");
        var tokenizer = HfTokenizer.Load(modelDir);
        var tokens = new string?[vocabSize];
        var scores = new float[vocabSize];
        var types = new int[vocabSize];
        Array.Fill(types, Normal);
        var byId = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in model.GetProperty("vocab").EnumerateObject())
        {
            var id = p.Value.GetInt32();
            if (id >= vocabSize) throw new InvalidDataException($"{path}: token '{p.Name}' has id {id}, beyond the model's vocab_size {vocabSize}");
            tokens[id] = p.Name;
            byId[p.Name] = id;
            if (p.Name.Length == 6 && p.Name.StartsWith("<0x", StringComparison.Ordinal) && p.Name[5] == '>') types[id] = Byte;
        }
        if (model.TryGetProperty("merges", out var ms))
        {
            var seen = new HashSet<int>();
            int rank = 0;
            foreach (var e in ms.EnumerateArray())
            {
                string joined = e.ValueKind == JsonValueKind.String
                    ? e.GetString()!.Replace(" ", "", StringComparison.Ordinal)
                    : string.Concat(e.EnumerateArray().Select(x => x.GetString()));
                if (byId.TryGetValue(joined, out var id) && seen.Add(id)) scores[id] = -rank;
                rank++;
            }
        }
        if (model.TryGetProperty("unk_token", out var unk) && unk.ValueKind == JsonValueKind.String && byId.TryGetValue(unk.GetString()!, out var unkId))
            types[unkId] = Unknown;
        foreach (var a in tokenizer.AddedTokens)
        {
            if (a.Id >= vocabSize) throw new InvalidDataException($"{path}: added token '{a.Content}' has id {a.Id}, beyond the model's vocab_size {vocabSize}");
            if (types[a.Id] == Unknown) continue;
            bool control = a.Special || LooksSpecial(a.Content);
            types[a.Id] = control ? Control : UserDefined;
            tokens[a.Id] = control ? a.Content : a.Content.Replace('\u2581', ' ');
            scores[a.Id] = -1000f;
        }
        for (int i = 0; i < vocabSize; i++)
            if (tokens[i] is null) { tokens[i] = $"[PAD{i}]"; types[i] = Unused; }
        m.String("tokenizer.ggml.model", "llama");
        m.String("tokenizer.ggml.pre", "default");
        m.Strings("tokenizer.ggml.tokens", tokens!);
        m.Float32s("tokenizer.ggml.scores", scores);
        m.Int32s("tokenizer.ggml.token_type", types);
        m.Bool("tokenizer.ggml.add_space_prefix", PrependsSpace(root.GetProperty("normalizer")));
        return WriteSpecialTokensAndTemplate(m, modelDir, tokenizer, "default", "SentencePiece-style (llama.cpp's llama tokenizer)", vocabSize);
    }

    private static bool PrependsSpace(JsonElement n) => n.ValueKind == JsonValueKind.Object && n.GetProperty("type").GetString() switch
    {
        "Prepend" => n.GetProperty("prepend").GetString() == "\u2581",
        "Sequence" => n.GetProperty("normalizers").EnumerateArray().Any(PrependsSpace),
        _ => false,
    };

    /// <summary>convert_hf_to_gguf.py's rule (the hash of the check text's ids), else the pre-tokenizer's known regex or GPT-2's.</summary>
    private static (string Name, string Rule) PreTokenizerOf(HfTokenizer tokenizer, JsonElement pre, string path)
    {
        var hash = CheckHash(tokenizer);
        if (KnownHashes.TryGetValue(hash, out var name)) return (name, $"convert_hf_to_gguf.py hash {hash}");
        if (pre.GetProperty("type").GetString() == "ByteLevel" && (!pre.TryGetProperty("use_regex", out var r) || r.ValueKind == JsonValueKind.True))
            return ("gpt-2", "ByteLevel pre-tokenizer with GPT-2's regex");
        var split = SplitPatterns(pre).ToList();
        if (split.Count == 1 && KnownSplitPatterns.TryGetValue(split[0], out var byPattern))
            return (byPattern, "the Split pattern of " + byPattern);
        throw new InvalidDataException($"{path}: its pre-tokenizer is not one llama.cpp is known to implement (check hash {hash} is not in convert_hf_to_gguf.py's table, and its Split pattern is not Llama 3's or Qwen2's)");
    }

    public static string CheckHash(HfTokenizer tokenizer)
    {
        var ids = tokenizer.Encode(PreTokenizerCheckText, addSpecialTokens: true);
        var text = "[" + string.Join(", ", ids) + "]"; // Python's str(list)
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    private static IEnumerable<string> SplitPatterns(JsonElement pre)
    {
        var type = pre.GetProperty("type").GetString();
        if (type == "Sequence")
        {
            foreach (var p in pre.GetProperty("pretokenizers").EnumerateArray())
                foreach (var s in SplitPatterns(p)) yield return s;
        }
        else if (type == "Split" && pre.GetProperty("pattern").TryGetProperty("Regex", out var rx)) yield return rx.GetString()!;
    }

    private static bool HasByteLevel(JsonElement pre) => pre.ValueKind == JsonValueKind.Object && pre.GetProperty("type").GetString() switch
    {
        "ByteLevel" => true,
        "Sequence" => pre.GetProperty("pretokenizers").EnumerateArray().Any(HasByteLevel),
        _ => false,
    };

    /// <summary>convert_hf_to_gguf.py's does_token_look_special: added tokens some models forget to mark special.</summary>
    private static bool LooksSpecial(string t) =>
        t is "<pad>" or "<mask>" or "<2mass>" or "[@BOS@]"
        || (t.StartsWith("<|", StringComparison.Ordinal) && t.EndsWith("|>", StringComparison.Ordinal))
        || (t.StartsWith("<｜", StringComparison.Ordinal) && t.EndsWith("｜>", StringComparison.Ordinal))
        || (t.StartsWith("<unused", StringComparison.Ordinal) && t.EndsWith('>'));
}
