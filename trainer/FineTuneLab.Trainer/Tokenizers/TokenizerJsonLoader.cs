using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>Reads tokenizer.json into our components. Every error names the file and the JSON path of the field.</summary>
internal sealed class TokenizerJsonLoader
{
    private readonly string _file;

    private ModelJsonScanner.ScannedModel? _scanned;

    private TokenizerJsonLoader(string file) => _file = file;

    internal sealed record Parts(BpeModel Model, Normalizer? Normalizer, PreTokenizer? PreTokenizer, PostProcessor? PostProcessor,
        Decoder? Decoder, AddedVocabulary Added);

    public static Parts Load(string file)
    {
        MappedFile bytes;
        try { bytes = MappedFile.Open(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TokenizerFormatException(file, "$", $"cannot read the file: {e.Message}", e);
        }
        var loader = new TokenizerJsonLoader(file);
        var sections = new Dictionary<string, JsonDocument>(StringComparer.Ordinal);
        try
        {
            return loader.Read(bytes, sections);
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException(file, $"line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}", $"malformed JSON: {e.Message}", e);
        }
        // The reader checks UTF-8 only when a string is read (the scanner names a token's id itself; this is a name or a
        // value outside the vocabulary): say where the first bad byte is.
        catch (InvalidOperationException e) when (e.InnerException is System.Text.DecoderFallbackException)
        {
            throw new TokenizerFormatException(file, "$", Formats.Utf8Text.Problem(bytes.Span) ?? "not valid UTF-8", e);
        }
        finally
        {
            // Nothing may read the mapped file once it is closed: a failed load stops the merge resolver first.
            loader._scanned?.Resolver?.Abandon();
            bytes.Dispose();
            foreach (var d in sections.Values) d.Dispose();
        }
    }

    /// <summary>One pass of Utf8JsonReader over the file's small sections (each becomes a small JsonDocument); the model
    /// object (nearly all of a large file) goes to <see cref="ModelJsonScanner"/>, which reads it from the bytes.</summary>
    private Parts Read(MappedFile bytes, Dictionary<string, JsonDocument> sections)
    {
        var reader = new Utf8JsonReader(bytes.Span, new JsonReaderOptions { MaxDepth = 256 });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) throw Error("$", "the root must be an object");
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            reader.Read();
            if (name == "model" && reader.TokenType == JsonTokenType.StartObject)
            {
                if (_scanned is not null) throw Error("$.model", "given twice");
                var scanned = _scanned = ModelJsonScanner.Scan(_file, bytes, (int)reader.TokenStartIndex, sections);
                // The model is the last section in files HF writes: then the reader need not go over it again.
                if (OnlyRootEndFollows(bytes.Span, scanned.End)) break;
                reader.Skip();
            }
            else sections[name] = JsonDocument.ParseValue(ref reader);
        }
        if (_scanned is null) throw Error("$.model", "missing the model object");

        var normalizer = Section(sections, "normalizer") is { } n ? ReadNormalizer(n, "$.normalizer") : null;
        var pre = Section(sections, "pre_tokenizer") is { } p ? ReadPreTokenizer(p, "$.pre_tokenizer") : null;
        var model = StartModel(_scanned, bytes);
        // While the merge table fills on another thread. As HF's add_tokens: a token whose content the model vocabulary
        // already has takes the model's id.
        var addedTokens = ReadAddedTokens(Section(sections, "added_tokens"));
        for (var i = 0; i < addedTokens.Count; i++)
            if (model.Vocabulary.TokenToId(addedTokens[i].Content) is { } id && id != addedTokens[i].Id)
                addedTokens[i] = addedTokens[i] with { Id = id };
        var added = new AddedVocabulary(addedTokens, normalizer);
        var post = Section(sections, "post_processor") is { } pp ? ReadPostProcessor(pp, "$.post_processor") : null;
        var decoder = Section(sections, "decoder") is { } d ? ReadDecoder(d, "$.decoder") : null;
        return new Parts(model.Complete(), normalizer, pre, post, decoder, added);
    }

    private static bool OnlyRootEndFollows(ReadOnlySpan<byte> bytes, int at)
    {
        var rest = bytes[at..].TrimStart(" \t\r\n"u8);
        return rest.Length > 0 && rest[0] == '}' && rest[1..].TrimStart(" \t\r\n"u8).IsEmpty;
    }

    private static JsonElement? Section(Dictionary<string, JsonDocument> sections, string name) =>
        sections.TryGetValue(name, out var doc) ? doc.RootElement : null;

    private TokenizerFormatException Error(string path, string message) => new(_file, path, message);

    private string Type(JsonElement e, string path)
    {
        if (e.ValueKind != JsonValueKind.Object) throw Error(path, $"expected an object, found {e.ValueKind}");
        return GetString(e, "type", path);
    }

    private string GetString(JsonElement e, string name, string path)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.String)
            throw Error($"{path}.{name}", "missing or not a string");
        return v.GetString()!;
    }

    private string? GetOptionalString(JsonElement e, string name, string path)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String) throw Error($"{path}.{name}", "not a string");
        return v.GetString();
    }

    private bool GetBool(JsonElement e, string name, string path, bool fallback)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error($"{path}.{name}", "not a boolean"),
        };
    }

    private int GetInt(JsonElement e, string name, string path, int fallback)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var i)) throw Error($"{path}.{name}", "not an integer");
        return i;
    }

    private JsonElement GetArray(JsonElement e, string name, string path)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Array) throw Error($"{path}.{name}", "missing or not an array");
        return v;
    }

    private char GetChar(JsonElement e, string name, string path, char fallback)
    {
        var s = GetOptionalString(e, name, path);
        if (s is null) return fallback;
        if (s.Length != 1) throw Error($"{path}.{name}", $"expected a single BMP character, found \"{s}\"");
        return s[0];
    }

    /// <summary>A Split/Replace pattern: {"String": ...} or {"Regex": ...}.</summary>
    private (string? Literal, string? Regex) ReadPattern(JsonElement e, string path)
    {
        if (!e.TryGetProperty("pattern", out var p) || p.ValueKind != JsonValueKind.Object) throw Error($"{path}.pattern", "missing or not an object");
        if (p.TryGetProperty("String", out var s) && s.ValueKind == JsonValueKind.String) return (s.GetString(), null);
        if (p.TryGetProperty("Regex", out var r) && r.ValueKind == JsonValueKind.String) return (null, r.GetString());
        throw Error($"{path}.pattern", "expected {\"String\": ...} or {\"Regex\": ...}");
    }

    private Regex CompileRegex(string pattern, string path)
    {
        try { return new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled); }
        catch (ArgumentException e) { throw Error(path, $"regex not supported by .NET: {e.Message}"); }
    }

    private Normalizer? ReadNormalizer(JsonElement e, string path)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        var type = Type(e, path);
        switch (type)
        {
            case "Sequence":
                var arr = GetArray(e, "normalizers", path);
                return new SequenceNormalizer(arr.EnumerateArray().Select((x, i) => ReadNormalizer(x, $"{path}.normalizers[{i}]")
                    ?? throw Error($"{path}.normalizers[{i}]", "null normalizer")).ToArray());
            case "Prepend": return new PrependNormalizer(GetString(e, "prepend", path));
            case "Replace":
                var (lit, re) = ReadPattern(e, path);
                return new ReplaceNormalizer(lit, re is null ? null : CompileRegex(re, $"{path}.pattern.Regex"), GetString(e, "content", path));
            case "NFC": return new UnicodeNormalizer(NormalizationForm.FormC);
            case "NFD": return new UnicodeNormalizer(NormalizationForm.FormD);
            case "NFKC": return new UnicodeNormalizer(NormalizationForm.FormKC);
            case "NFKD": return new UnicodeNormalizer(NormalizationForm.FormKD);
            case "Lowercase": return new LowercaseNormalizer();
            case "Strip": return new StripNormalizer(GetBool(e, "strip_left", path, true), GetBool(e, "strip_right", path, true));
            case "StripAccents": return new StripAccentsNormalizer();
            case "Precompiled":
                var map = GetOptionalString(e, "precompiled_charsmap", path);
                if (string.IsNullOrEmpty(map)) return null;
                throw Error($"{path}.type", "normalizer \"Precompiled\" with a charsmap is not supported");
            default: throw Error($"{path}.type", $"normalizer \"{type}\" is not supported");
        }
    }

    private PreTokenizer? ReadPreTokenizer(JsonElement e, string path)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        var type = Type(e, path);
        switch (type)
        {
            case "Sequence":
                var arr = GetArray(e, "pretokenizers", path);
                return new SequencePreTokenizer(arr.EnumerateArray().Select((x, i) => ReadPreTokenizer(x, $"{path}.pretokenizers[{i}]")
                    ?? throw Error($"{path}.pretokenizers[{i}]", "null pre-tokenizer")).ToArray());
            case "Split":
                var (lit, re) = ReadPattern(e, path);
                var behaviorName = GetString(e, "behavior", path);
                if (!Enum.TryParse<SplitBehavior>(behaviorName, out var behavior))
                    throw Error($"{path}.behavior", $"unknown split behavior \"{behaviorName}\"");
                ISplitMatcher matcher;
                if (lit is not null) matcher = SplitMatchers.ForLiteral(lit);
                else
                {
                    try { matcher = SplitMatchers.ForRegex(re!); }
                    catch (ArgumentException ex) { throw Error($"{path}.pattern.Regex", $"regex not supported by .NET: {ex.Message}"); }
                }
                return new SplitPreTokenizer(matcher, behavior, GetBool(e, "invert", path, false));
            case "ByteLevel":
                return new ByteLevelPreTokenizer(GetBool(e, "add_prefix_space", path, true), GetBool(e, "use_regex", path, true));
            case "Metaspace":
                return new MetaspacePreTokenizer(GetChar(e, "replacement", path, '\u2581'), ReadPrependScheme(e, path), GetBool(e, "split", path, true));
            case "Digits":
                // Rust's char::is_numeric is \p{N}; non-individual digits merge into contiguous runs.
                return new SplitPreTokenizer(SplitMatchers.ForRegex(GetBool(e, "individual_digits", path, false) ? @"\p{N}" : @"\p{N}+"),
                    SplitBehavior.Isolated, false);
            case "WhitespaceSplit":
                return new SplitPreTokenizer(SplitMatchers.ForRegex(@"\s+"), SplitBehavior.Removed, false);
            case "Whitespace":
                return new SplitPreTokenizer(SplitMatchers.ForRegex(@"\w+|[^\w\s]+"), SplitBehavior.Removed, true);
            default: throw Error($"{path}.type", $"pre-tokenizer \"{type}\" is not supported");
        }
    }

    private PrependScheme ReadPrependScheme(JsonElement e, string path)
    {
        var scheme = GetOptionalString(e, "prepend_scheme", path);
        if (scheme is null) return GetBool(e, "add_prefix_space", path, true) ? PrependScheme.Always : PrependScheme.Never;
        return scheme switch
        {
            "always" => PrependScheme.Always,
            "first" => PrependScheme.First,
            "never" => PrependScheme.Never,
            _ => throw Error($"{path}.prepend_scheme", $"unknown prepend scheme \"{scheme}\""),
        };
    }

    private Decoder? ReadDecoder(JsonElement e, string path)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        var type = Type(e, path);
        switch (type)
        {
            case "Sequence":
                var arr = GetArray(e, "decoders", path);
                return new SequenceDecoder(arr.EnumerateArray().Select((x, i) => ReadDecoder(x, $"{path}.decoders[{i}]")
                    ?? throw Error($"{path}.decoders[{i}]", "null decoder")).ToArray());
            case "ByteLevel": return new ByteLevelDecoder();
            case "Replace":
                var (lit, re) = ReadPattern(e, path);
                if (lit is null) throw Error($"{path}.pattern", "a Regex pattern in the Replace decoder is not supported");
                return new ReplaceDecoder(lit, GetString(e, "content", path));
            case "ByteFallback": return new ByteFallbackDecoder();
            case "Fuse": return new FuseDecoder();
            case "Strip": return new StripDecoder(GetChar(e, "content", path, ' '), GetInt(e, "start", path, 0), GetInt(e, "stop", path, 0));
            case "Metaspace": return new MetaspaceDecoder(GetChar(e, "replacement", path, '\u2581'), ReadPrependScheme(e, path));
            case "BPEDecoder": return new BpeSuffixDecoder(GetOptionalString(e, "suffix", path) ?? "</w>");
            default: throw Error($"{path}.type", $"decoder \"{type}\" is not supported");
        }
    }

    private PostProcessor? ReadPostProcessor(JsonElement e, string path)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        var type = Type(e, path);
        switch (type)
        {
            case "Sequence":
                var arr = GetArray(e, "processors", path);
                return new SequencePostProcessor(arr.EnumerateArray().Select((x, i) => ReadPostProcessor(x, $"{path}.processors[{i}]")
                    ?? throw Error($"{path}.processors[{i}]", "null post-processor")).ToArray());
            case "ByteLevel": return new NoTokensPostProcessor();
            case "TemplateProcessing": return ReadTemplate(e, path);
            case "BertProcessing":
            case "RobertaProcessing":
                return new TemplatePostProcessor([ReadIdPair(e, "cls", path)], [ReadIdPair(e, "sep", path)]);
            default: throw Error($"{path}.type", $"post-processor \"{type}\" is not supported");
        }
    }

    private int ReadIdPair(JsonElement e, string name, string path)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Array || v.GetArrayLength() != 2 || !v[1].TryGetInt32(out var id))
            throw Error($"{path}.{name}", "expected [token, id]");
        return id;
    }

    private TemplatePostProcessor ReadTemplate(JsonElement e, string path)
    {
        var single = GetArray(e, "single", path);
        if (!e.TryGetProperty("special_tokens", out var specials) || specials.ValueKind != JsonValueKind.Object)
            throw Error($"{path}.special_tokens", "missing or not an object");
        var before = new List<int>();
        var after = new List<int>();
        var seenSequence = false;
        var i = 0;
        foreach (var item in single.EnumerateArray())
        {
            var itemPath = $"{path}.single[{i++}]";
            if (item.TryGetProperty("Sequence", out _))
            {
                if (seenSequence) throw Error(itemPath, "more than one Sequence in the single template");
                seenSequence = true;
            }
            else if (item.TryGetProperty("SpecialToken", out var st))
            {
                var id = GetString(st, "id", $"{itemPath}.SpecialToken");
                if (!specials.TryGetProperty(id, out var spec)) throw Error($"{path}.special_tokens", $"no entry for \"{id}\" used at {itemPath}");
                foreach (var x in GetArray(spec, "ids", $"{path}.special_tokens.{id}").EnumerateArray())
                    (seenSequence ? after : before).Add(x.TryGetInt32(out var v) ? v : throw Error($"{path}.special_tokens.{id}.ids", "not an integer"));
            }
            else throw Error(itemPath, "expected a Sequence or SpecialToken item");
        }
        if (!seenSequence) throw Error($"{path}.single", "the template has no Sequence item");
        return new TemplatePostProcessor(before, after);
    }

    private List<AddedToken> ReadAddedTokens(JsonElement? section)
    {
        var result = new List<AddedToken>();
        if (section is not { } arr || arr.ValueKind == JsonValueKind.Null) return result;
        if (arr.ValueKind != JsonValueKind.Array) throw Error("$.added_tokens", "not an array");
        var i = 0;
        foreach (var t in arr.EnumerateArray())
        {
            var path = $"$.added_tokens[{i++}]";
            if (t.ValueKind != JsonValueKind.Object) throw Error(path, "not an object");
            var id = GetInt(t, "id", path, -1);
            if (id < 0) throw Error($"{path}.id", "missing or negative");
            var special = GetBool(t, "special", path, false);
            result.Add(new AddedToken(id, GetString(t, "content", path), special, GetBool(t, "single_word", path, false),
                GetBool(t, "lstrip", path, false), GetBool(t, "rstrip", path, false), GetBool(t, "normalized", path, !special)));
        }
        return result;
    }

    /// <summary>The model's vocabulary, and its merge table still filling on another thread.</summary>
    private sealed record PendingModel(Utf8Vocabulary Vocabulary, Task<MergeTable> Merges, string? Unk, bool FuseUnk, bool ByteFallback,
        bool IgnoreMerges, string? Prefix, string? Suffix)
    {
        public BpeModel Complete() =>
            new(Vocabulary, Merges.GetAwaiter().GetResult(), Unk, FuseUnk, ByteFallback, IgnoreMerges, Prefix, Suffix);
    }

    private PendingModel StartModel(ModelJsonScanner.ScannedModel m, MappedFile bytes)
    {
        const string path = "$.model";
        string? Str(string name) => m.Fields.TryGetValue(name, out var v) && v.ValueKind != JsonValueKind.Null
            ? (v.ValueKind == JsonValueKind.String ? v.GetString() : throw Error($"{path}.{name}", "not a string")) : null;
        bool Bool(string name) => m.Fields.TryGetValue(name, out var v) && v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False or JsonValueKind.Null => false,
            _ => throw Error($"{path}.{name}", "not a boolean"),
        };

        var type = Str("type") ?? "BPE";
        if (type != "BPE") throw Error($"{path}.type", $"model \"{type}\" is not supported (only BPE)");
        if (m.Fields.TryGetValue("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
            throw Error($"{path}.dropout", "BPE dropout is not supported at encode time");
        if (m.Vocabulary is null) throw Error($"{path}.vocab", "missing or not an object");
        if (m.Fields.ContainsKey("merges")) throw Error($"{path}.merges", "not an array");

        var prefixBytes = ModelJsonScanner.PrefixBytes(m);
        var vocab = m.Vocabulary.GetAwaiter().GetResult();
        var merges = Task.FromResult(new MergeTable(0));
        if (m.Merges is not null)
        {
            // The resolver started during the scan used the prefix known then; a prefix given after the merges means
            // starting over.
            if (m.Resolver is null || m.Resolver.PrefixBytes != prefixBytes)
            {
                m.Resolver?.Abandon();
                m.Resolver = MergeResolver.Start(m.Merges, m.Vocabulary, bytes, prefixBytes);
            }
            merges = m.Resolver.Finish(_file);
        }

        var unk = Str("unk_token");
        if (unk is not null && vocab.TokenToId(unk) is null) throw Error($"{path}.unk_token", $"\"{unk}\" is not in the vocabulary");
        return new PendingModel(vocab, merges, unk, Bool("fuse_unk"), Bool("byte_fallback"), Bool("ignore_merges"),
            Str("continuing_subword_prefix"), Str("end_of_word_suffix"));
    }
}
