using System.Text;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>The one-item-per-line text format of tokenizer corpora (tests, benchmarks, <c>ftl-train tokenize</c>):
/// UTF-8, lines split on LF only; inside a line <c>\n</c> is LF, <c>\r</c> is CR, <c>\\</c> a backslash, nothing else is escaped.</summary>
public static class TokenizerCorpus
{
    public static List<string> ReadItems(string path)
    {
        var text = File.ReadAllText(path, new UTF8Encoding(false, true));
        var lines = text.Split('\n');
        var count = text.EndsWith('\n') ? lines.Length - 1 : lines.Length;
        var items = new List<string>(count);
        for (var i = 0; i < count; i++) items.Add(Unescape(lines[i]));
        return items;
    }

    public static string Unescape(string line)
    {
        if (!line.Contains('\\')) return line;
        var sb = new StringBuilder(line.Length);
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (c == '\\' && i + 1 < line.Length)
            {
                var next = line[i + 1];
                var mapped = next switch { 'n' => '\n', 'r' => '\r', '\\' => '\\', _ => '\0' };
                if (mapped != '\0') { sb.Append(mapped); i++; continue; }
            }
            sb.Append(c);
        }
        return sb.ToString();
    }

    public static string Escape(string item) =>
        item.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal).Replace("\r", "\\r", StringComparison.Ordinal);
}
