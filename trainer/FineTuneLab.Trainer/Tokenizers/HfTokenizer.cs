namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>Ids and, per id, the [start, end) UTF-16 span of the input text it came from ((0, 0) for added special tokens).</summary>
public sealed record TokenizerEncoding(int[] Ids, (int Start, int End)[] Offsets);

/// <summary>A Hugging Face <c>tokenizer.json</c> tokenizer (BPE, byte-level or SentencePiece-style) that gives the same
/// ids as the <c>tokenizers</c> library. Thread-safe: each thread encodes with its own scratch state.</summary>
public sealed class HfTokenizer : ITokenizer
{
    private readonly BpeModel _model;
    private readonly Normalizer? _normalizer;
    private readonly PreTokenizer? _preTokenizer;
    private readonly PostProcessor? _postProcessor;
    private readonly Decoder? _decoder;
    private readonly AddedVocabulary _added;
    private readonly ThreadLocal<EncodeContext> _contexts = new(() => new EncodeContext());

    private HfTokenizer(TokenizerJsonLoader.Parts parts, string path)
    {
        _model = parts.Model;
        _normalizer = parts.Normalizer;
        _preTokenizer = parts.PreTokenizer;
        _postProcessor = parts.PostProcessor;
        _decoder = parts.Decoder;
        _added = parts.Added;
        SourcePath = path;
        var max = _model.IdCount - 1;
        foreach (var t in _added.Tokens) max = Math.Max(max, t.Id);
        VocabSize = max + 1;
    }

    /// <summary>Loads <c>tokenizer.json</c> (a path to it, or to a model folder holding it); reads BOS/EOS/PAD from
    /// <c>tokenizer_config.json</c> beside it when present.</summary>
    public static HfTokenizer Load(string tokenizerJsonPathOrFolder)
    {
        var path = Directory.Exists(tokenizerJsonPathOrFolder)
            ? Path.Combine(tokenizerJsonPathOrFolder, "tokenizer.json")
            : tokenizerJsonPathOrFolder;
        if (!File.Exists(path)) throw new FileNotFoundException($"tokenizer.json not found: {path}", path);
        var configPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "tokenizer_config.json");
        // Read on another thread while tokenizer.json loads (some are a megabyte of JSON).
        var config = File.Exists(configPath) ? Task.Run(() => SpecialTokensConfig.Read(configPath)) : null;
        var tokenizer = new HfTokenizer(TokenizerJsonLoader.Load(path), path);
        if (config is not null) tokenizer.Apply(config.GetAwaiter().GetResult());
        return tokenizer;
    }

    public string SourcePath { get; }
    public int VocabSize { get; }
    public IReadOnlyList<AddedToken> AddedTokens => _added.Tokens;

    public string? BosToken { get; private set; }
    public string? EosToken { get; private set; }
    public string? PadToken { get; private set; }
    public int? BosTokenId => BosToken is null ? null : TokenToId(BosToken);
    public int? EosTokenId => EosToken is null ? null : TokenToId(EosToken);
    public int? PadTokenId => PadToken is null ? null : TokenToId(PadToken);

    /// <summary>tokenizer_config.json's add_bos_token / add_eos_token when given (what transformers adds by default).</summary>
    public bool? AddBosToken { get; private set; }
    public bool? AddEosToken { get; private set; }

    private void Apply(SpecialTokensConfig config) =>
        (BosToken, EosToken, PadToken, AddBosToken, AddEosToken) = (config.Bos, config.Eos, config.Pad, config.AddBos, config.AddEos);

    public int[] Encode(string text, bool addSpecialTokens = false)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        EncodeCore(text, addSpecialTokens, ids, null);
        return ids.ToArray();
    }

    /// <summary>Appends the ids of <paramref name="text"/> to <paramref name="ids"/> (no intermediate array).</summary>
    public void EncodeInto(string text, List<int> ids, bool addSpecialTokens = false)
    {
        if (addSpecialTokens && _postProcessor is not null)
        {
            var own = new List<int>();
            EncodeCore(text, true, own, null);
            ids.AddRange(own);
        }
        else EncodeCore(text, false, ids, null);
    }

    public TokenizerEncoding EncodeWithOffsets(string text, bool addSpecialTokens = false)
    {
        var ids = new List<int>();
        var offsets = new List<(int, int)>();
        EncodeCore(text, addSpecialTokens, ids, offsets);
        return new TokenizerEncoding(ids.ToArray(), offsets.ToArray());
    }

    /// <summary>Encodes many texts in parallel (one scratch state per worker thread); results are in input order.</summary>
    public int[][] EncodeBatch(IReadOnlyList<string> texts, bool addSpecialTokens = false, int maxDegreeOfParallelism = -1)
    {
        var results = new int[texts.Count][];
        Parallel.For(0, texts.Count, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism },
            i => results[i] = Encode(texts[i], addSpecialTokens));
        return results;
    }

    private void EncodeCore(string text, bool addSpecialTokens, List<int> ids, List<(int, int)>? offsets)
    {
        var ctx = _contexts.Value!;
        var segments = ctx.Segments0;
        segments.Clear();
        if (_added.HasRaw) _added.SplitRaw(text, segments);
        else if (text.Length > 0) segments.Add(new Piece(0, text.Length));
        for (var s = 0; s < segments.Count; s++)
        {
            var seg = segments[s];
            if (seg.IsToken)
            {
                ids.Add(seg.TokenId);
                offsets?.Add((seg.Start, seg.Start + seg.Length));
            }
            else EncodeSegment(ctx, text, seg.Start, seg.Start + seg.Length, ids, offsets);
        }
        if (addSpecialTokens) _postProcessor?.AddSpecialTokens(ids, offsets);
    }

    private void EncodeSegment(EncodeContext ctx, string text, int start, int end, List<int> ids, List<(int, int)>? offsets)
    {
        var buf = ctx.BufA;
        buf.Load(text, start, end);
        if (_normalizer is not null) buf = _normalizer.Apply(buf, ctx.BufB);
        var pieces = ctx.Pieces;
        pieces.Clear();
        if (buf.Length == 0) return;
        if (_added.HasNormalized) _added.SplitNormalized(buf.Text, 0, pieces);
        else pieces.Add(new Piece(0, buf.Length));
        ctx.ByteLevel = false;
        _preTokenizer?.Apply(ctx, buf);
        pieces = ctx.Pieces;
        for (var p = 0; p < pieces.Count; p++)
        {
            var piece = pieces[p];
            if (piece.IsToken)
            {
                ids.Add(piece.TokenId);
                offsets?.Add((buf.OrigStart[piece.Start], buf.OrigEnd[piece.Start + piece.Length - 1]));
            }
            else _model.Encode(ctx, buf, piece, ids, offsets);
        }
    }

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var tokens = new List<string>(ids.Length);
        foreach (var id in ids)
        {
            if (skipSpecialTokens && _added.IsSpecial(id)) continue;
            var t = IdToToken(id);
            if (t is not null) tokens.Add(t);
        }
        return _decoder is null ? string.Join(' ', tokens) : _decoder.Decode(tokens);
    }

    /// <summary>A decoder that takes ids one at a time and returns text only once it is complete (no partial UTF-8).</summary>
    public StreamingDecoder CreateStreamingDecoder(bool skipSpecialTokens = false) => new(this, skipSpecialTokens);

    public int? TokenToId(string token) => _added.ByContent(token)?.Id ?? _model.TokenToId(token);

    public string? IdToToken(int id)
    {
        if (_added.ById(id) is { } t) return t.Content;
        return _model.IdToToken(id);
    }

    public bool IsSpecialToken(int id) => _added.IsSpecial(id);
}
