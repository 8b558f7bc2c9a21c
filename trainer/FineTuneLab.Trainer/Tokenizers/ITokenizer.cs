namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>
/// What the data pipeline, chat templates and inference need from a tokenizer. The implementation reads
/// Hugging Face's <c>tokenizer.json</c> and matches the <c>tokenizers</c> library id for id.
/// </summary>
public interface ITokenizer
{
    /// <summary>Number of ids, added tokens included.</summary>
    int VocabSize { get; }

    /// <summary>Encodes text; with <paramref name="addSpecialTokens"/> the post-processor adds BOS/EOS as the model's tokenizer does.</summary>
    int[] Encode(string text, bool addSpecialTokens = false);

    /// <summary>Decodes ids back to text.</summary>
    string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false);

    /// <summary>The id of a token (vocabulary or added token), or null when there is none.</summary>
    int? TokenToId(string token);

    /// <summary>The token string of an id, or null when the id is out of range.</summary>
    string? IdToToken(int id);
}
