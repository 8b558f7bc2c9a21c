namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>Incremental decoding for generation, as HF's DecodeStream: each step decodes the ids since the last
/// emitted prefix and returns only new text, holding it back while it ends in an incomplete character (U+FFFD).</summary>
public sealed class StreamingDecoder
{
    private readonly HfTokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly List<int> _ids = [];
    private string _prefix = "";
    private int _prefixIndex;

    internal StreamingDecoder(HfTokenizer tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>Adds one id; returns the text it completes, or null while held back.</summary>
    public string? Step(int id)
    {
        _ids.Add(id);
        var ids = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids);
        var text = _tokenizer.Decode(ids, _skipSpecialTokens);
        if (text.Length <= _prefix.Length || text.EndsWith('\uFFFD')) return null;
        var fresh = text[_prefix.Length..];
        // Keep the last decoded ids as context: decoders (Metaspace, Strip) treat the first token specially.
        var keep = _ids.Count - _prefixIndex;
        _ids.RemoveRange(0, _prefixIndex);
        _prefixIndex = keep;
        _prefix = _tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids), _skipSpecialTokens);
        return fresh;
    }
}
