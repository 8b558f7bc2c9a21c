using System.Text;
using FineTuneLab.Trainer.Tokenizers;

namespace FineTuneLab.Trainer.Tests.Data;

/// <summary>
/// A small but real tokenizer for the data tests, built from a vocabulary file (one token per line, id = line index):
/// special tokens (lines written like &lt;...&gt; or &lt;|...|&gt;) are matched first, then runs of letters/digits
/// that are in the vocabulary, then single characters; a character outside the vocabulary becomes &lt;unk&gt;.
/// With addSpecialTokens it prepends the BOS token, as Llama's post-processor does.
/// </summary>
public sealed class WordLevelTestTokenizer : ITokenizer
{
    private readonly List<string> _tokens;
    private readonly Dictionary<string, int> _ids;
    private readonly string[] _special;
    private readonly int _unk;
    private readonly int? _bos;

    public WordLevelTestTokenizer(string vocabPath, string? bosToken = "<s>")
    {
        _tokens = File.ReadAllLines(vocabPath).Where(l => l.Length > 0).Select(Unescape).ToList();
        _ids = _tokens.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i, StringComparer.Ordinal);
        _special = _tokens.Where(t => t.Length > 2 && t[0] == '<' && t[^1] == '>').OrderByDescending(t => t.Length).ToArray();
        _unk = _ids["<unk>"];
        _bos = bosToken is null ? null : _ids[bosToken];
    }

    /// <summary>The vocabulary file writes newline, tab and space as \n, \t and \s.</summary>
    private static string Unescape(string line) => line switch { "\\n" => "\n", "\\t" => "\t", "\\s" => " ", _ => line };

    public static WordLevelTestTokenizer Default() =>
        new(Path.Combine(FineTuneLab.TestSupport.RepoPaths.Root, "tests", "FineTuneLab.Trainer.Tests", "Data", "TestData", "word-vocab.txt"));

    public int VocabSize => _tokens.Count;

    public int[] Encode(string text, bool addSpecialTokens = false)
    {
        var ids = new List<int>();
        if (addSpecialTokens && _bos is { } bos) ids.Add(bos);
        var i = 0;
        while (i < text.Length)
        {
            var special = _special.FirstOrDefault(s => string.CompareOrdinal(text, i, s, 0, s.Length) == 0);
            if (special is not null)
            {
                ids.Add(_ids[special]);
                i += special.Length;
                continue;
            }
            if (char.IsLetterOrDigit(text[i]))
            {
                var j = i;
                while (j < text.Length && char.IsLetterOrDigit(text[j])) j++;
                var word = text[i..j];
                if (_ids.TryGetValue(word, out var id)) ids.Add(id);
                else foreach (var c in word) ids.Add(_ids.GetValueOrDefault(c.ToString(), _unk));
                i = j;
                continue;
            }
            ids.Add(_ids.GetValueOrDefault(text[i].ToString(), _unk));
            i++;
        }
        return [.. ids];
    }

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var sb = new StringBuilder();
        foreach (var id in ids)
        {
            var t = IdToToken(id) ?? throw new ArgumentOutOfRangeException(nameof(ids), $"id {id} is not in the vocabulary");
            if (skipSpecialTokens && _special.Contains(t)) continue;
            sb.Append(t == "<unk>" ? "\uFFFD" : t);
        }
        return sb.ToString();
    }

    public int? TokenToId(string token) => _ids.TryGetValue(token, out var id) ? id : null;

    public string? IdToToken(int id) => id >= 0 && id < _tokens.Count ? _tokens[id] : null;
}
