using System.Text;
using System.Text.Json;
using FineTuneLab.Trainer.Tokenizers;

namespace FineTuneLab.Trainer.Data;

/// <summary>
/// Plain text for pretraining (data format <c>text</c>): a <c>.txt</c> file (each non-blank line a document) or JSONL
/// with a <c>text</c> string per line. Documents are tokenized, each followed by EOS, concatenated and cut into
/// blocks of exactly the sequence length (the remainder shorter than a block is dropped, as Hugging Face's
/// <c>group_texts</c> does); every token is trained.
/// </summary>
public sealed class TextCorpus
{
    public IReadOnlyList<int[]> Blocks { get; }
    public long Documents { get; }

    private TextCorpus(IReadOnlyList<int[]> blocks, long documents)
    {
        Blocks = blocks;
        Documents = documents;
    }

    public static TextCorpus Load(string path, ITokenizer tokenizer, int? eosId, int blockLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockLength, 2);
        var stream = new List<int>();
        long documents = 0, lineNumber = 0;
        var jsonl = !path.EndsWith(".txt", StringComparison.OrdinalIgnoreCase);
        foreach (var line in File.ReadLines(path, new UTF8Encoding(false, throwOnInvalidBytes: true)))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var text = jsonl ? ReadTextField(path, line, lineNumber) : line;
            stream.AddRange(tokenizer.Encode(text));
            if (eosId is { } eos) stream.Add(eos);
            documents++;
        }
        var blocks = new List<int[]>();
        for (var at = 0; at + blockLength <= stream.Count; at += blockLength)
            blocks.Add(stream.GetRange(at, blockLength).ToArray());
        if (blocks.Count == 0)
            throw new InvalidDataException($"{path}: {stream.Count} tokens are less than one block of {blockLength}");
        return new TextCorpus(blocks, documents);
    }

    private static string ReadTextField(string path, string line, long lineNumber)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String)
                return text.GetString()!;
            throw new InvalidDataException($"{path}: line {lineNumber}: expected an object with a \"text\" string");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: line {lineNumber}: invalid JSON ({e.Message})");
        }
    }
}
