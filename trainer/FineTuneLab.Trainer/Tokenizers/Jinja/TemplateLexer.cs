using System.Globalization;
using System.Text;

namespace FineTuneLab.Trainer.Tokenizers.Jinja;

/// <summary>
/// Splits template source into tokens the way Jinja2's lexer does with transformers' settings
/// (<c>trim_blocks=True</c>, <c>lstrip_blocks=True</c>, <c>keep_trailing_newline=False</c>): newlines are normalized to
/// <c>\n</c>, one trailing newline is dropped, <c>{%- / -%}</c> strip whitespace, a block or comment tag alone on its
/// line takes its indentation with it, and the newline right after a block or comment tag disappears.
/// </summary>
internal sealed class TemplateLexer
{
    private static readonly string[] Operators =
        ["//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", ";"];

    private readonly string _src;
    private readonly int[] _lineStarts;
    private readonly List<Token> _tokens = [];
    private int _pos;

    private TemplateLexer(string source)
    {
        _src = NormalizeSource(source);
        var starts = new List<int> { 0 };
        for (var i = 0; i < _src.Length; i++)
            if (_src[i] == '\n') starts.Add(i + 1);
        _lineStarts = [.. starts];
    }

    public static List<Token> Tokenize(string source)
    {
        var lexer = new TemplateLexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    private static string NormalizeSource(string source)
    {
        var s = source.Replace("\r\n", "\n").Replace('\r', '\n');
        return s.EndsWith('\n') ? s[..^1] : s;
    }

    private (int Line, int Column) Where(int offset)
    {
        var idx = Array.BinarySearch(_lineStarts, offset);
        if (idx < 0) idx = ~idx - 1;
        return (idx + 1, offset - _lineStarts[idx] + 1);
    }

    private Token Make(TokenKind kind, string value, int offset)
    {
        var (line, col) = Where(offset);
        return new Token(kind, value, line, col);
    }

    private JinjaSyntaxException Error(string message, int offset)
    {
        var (line, col) = Where(offset);
        return new JinjaSyntaxException(message, line, col);
    }

    private void Run()
    {
        var lineStarting = true;
        while (_pos < _src.Length)
        {
            var open = FindOpener(_pos);
            if (open < 0)
            {
                _tokens.Add(Make(TokenKind.Data, _src[_pos..], _pos));
                _pos = _src.Length;
                break;
            }
            var text = _src[_pos..open];
            var kindChar = _src[open + 1];
            var sign = open + 2 < _src.Length && (_src[open + 2] == '-' || _src[open + 2] == '+') ? _src[open + 2] : '\0';
            if (sign == '-')
                text = text.TrimEnd();
            else if (sign != '+' && kindChar != '{')
            {
                var lineStart = text.LastIndexOf('\n') + 1;
                if ((lineStart > 0 || lineStarting) && lineStart < text.Length && IsAllWhitespace(text.AsSpan(lineStart)))
                    text = text[..lineStart];
            }
            if (text.Length > 0)
                _tokens.Add(Make(TokenKind.Data, text, _pos));

            var afterOpen = open + 2 + (sign != '\0' ? 1 : 0);
            var consumedEnd = kindChar switch
            {
                '#' => SkipComment(open, afterOpen),
                '%' => LexTag(open, afterOpen, block: true),
                _ => LexTag(open, afterOpen, block: false),
            };
            lineStarting = consumedEnd > 0 && _src[consumedEnd - 1] == '\n';
            _pos = consumedEnd;
        }
        _tokens.Add(Make(TokenKind.Eof, "", _src.Length));
    }

    private int FindOpener(int from)
    {
        for (var i = _src.IndexOf('{', from); i >= 0 && i + 1 < _src.Length; i = _src.IndexOf('{', i + 1))
        {
            var c = _src[i + 1];
            if (c is '{' or '%' or '#') return i;
        }
        return -1;
    }

    private static bool IsAllWhitespace(ReadOnlySpan<char> s)
    {
        foreach (var c in s)
            if (!char.IsWhiteSpace(c)) return false;
        return true;
    }

    /// <returns>The offset just past the comment and whatever whitespace its closing tag removes.</returns>
    private int SkipComment(int open, int afterOpen)
    {
        var close = _src.IndexOf("#}", afterOpen, StringComparison.Ordinal);
        if (close < 0) throw Error("missing end of comment tag '#}'", open);
        var end = close + 2;
        var closeSign = close > afterOpen ? _src[close - 1] : '\0';
        return closeSign switch
        {
            '-' => SkipWhitespace(end),
            '+' => end,
            _ => end < _src.Length && _src[end] == '\n' ? end + 1 : end,
        };
    }

    private int SkipWhitespace(int i)
    {
        while (i < _src.Length && char.IsWhiteSpace(_src[i])) i++;
        return i;
    }

    /// <returns>The offset just past the closing delimiter and whatever whitespace it removes.</returns>
    private int LexTag(int open, int i, bool block)
    {
        _tokens.Add(Make(block ? TokenKind.BlockBegin : TokenKind.VariableBegin, "", open));
        var braces = new Stack<char>();
        while (true)
        {
            while (i < _src.Length && char.IsWhiteSpace(_src[i])) i++;
            if (i >= _src.Length)
                throw Error(block ? "missing end of block tag '%}'" : "missing end of variable tag '}}'", open);

            if (braces.Count == 0)
            {
                var end = block ? MatchBlockEnd(i) : MatchVariableEnd(i);
                if (end >= 0)
                {
                    _tokens.Add(Make(block ? TokenKind.BlockEnd : TokenKind.VariableEnd, "", i));
                    return end;
                }
            }

            var c = _src[i];
            if (char.IsDigit(c))
                i = LexNumber(i);
            else if (char.IsLetter(c) || c == '_')
            {
                var start = i;
                while (i < _src.Length && (char.IsLetterOrDigit(_src[i]) || _src[i] == '_')) i++;
                _tokens.Add(Make(TokenKind.Name, _src[start..i], start));
            }
            else if (c is '\'' or '"')
                i = LexString(i);
            else
            {
                var op = Operators.FirstOrDefault(o => string.CompareOrdinal(_src, i, o, 0, o.Length) == 0)
                         ?? throw Error($"unexpected character '{c}'", i);
                if (op is "(" or "[" or "{") braces.Push(op[0]);
                else if (op is ")" or "]" or "}")
                {
                    var expected = op switch { ")" => '(', "]" => '[', _ => '{' };
                    if (braces.Count == 0 || braces.Pop() != expected)
                        throw Error($"unexpected '{op}'", i);
                }
                _tokens.Add(Make(TokenKind.Operator, op, i));
                i += op.Length;
            }
        }
    }

    private int MatchBlockEnd(int i)
    {
        if (At(i, "-%}")) return SkipWhitespace(i + 3);
        if (At(i, "+%}")) return i + 3;
        if (At(i, "%}")) return i + 2 < _src.Length && _src[i + 2] == '\n' ? i + 3 : i + 2;
        return -1;
    }

    private int MatchVariableEnd(int i)
    {
        if (At(i, "-}}")) return SkipWhitespace(i + 3);
        if (At(i, "}}")) return i + 2;
        return -1;
    }

    private bool At(int i, string s) => string.CompareOrdinal(_src, i, s, 0, s.Length) == 0;

    private int LexNumber(int start)
    {
        var i = start;
        while (i < _src.Length && (char.IsDigit(_src[i]) || _src[i] == '_')) i++;
        var isFloat = false;
        if (i + 1 < _src.Length && _src[i] == '.' && char.IsDigit(_src[i + 1]))
        {
            isFloat = true;
            i++;
            while (i < _src.Length && (char.IsDigit(_src[i]) || _src[i] == '_')) i++;
        }
        if (i < _src.Length && (_src[i] is 'e' or 'E'))
        {
            var j = i + 1;
            if (j < _src.Length && _src[j] is '+' or '-') j++;
            if (j < _src.Length && char.IsDigit(_src[j]))
            {
                isFloat = true;
                i = j;
                while (i < _src.Length && (char.IsDigit(_src[i]) || _src[i] == '_')) i++;
            }
        }
        var text = _src[start..i].Replace("_", "");
        _tokens.Add(Make(isFloat ? TokenKind.Float : TokenKind.Integer, text, start));
        return i;
    }

    private int LexString(int start)
    {
        var quote = _src[start];
        var sb = new StringBuilder();
        var i = start + 1;
        while (true)
        {
            if (i >= _src.Length) throw Error("unterminated string literal", start);
            var c = _src[i];
            if (c == quote) break;
            if (c != '\\')
            {
                sb.Append(c);
                i++;
                continue;
            }
            if (i + 1 >= _src.Length) throw Error("unterminated string literal", start);
            i = AppendEscape(sb, i);
        }
        _tokens.Add(Make(TokenKind.String, sb.ToString(), start));
        return i + 1;
    }

    /// <summary>Python's unicode-escape decoding, which Jinja applies to string literals; unknown escapes stay as written.</summary>
    private int AppendEscape(StringBuilder sb, int i)
    {
        var e = _src[i + 1];
        switch (e)
        {
            case 'n': sb.Append('\n'); return i + 2;
            case 't': sb.Append('\t'); return i + 2;
            case 'r': sb.Append('\r'); return i + 2;
            case '\\': sb.Append('\\'); return i + 2;
            case '\'': sb.Append('\''); return i + 2;
            case '"': sb.Append('"'); return i + 2;
            case 'a': sb.Append('\a'); return i + 2;
            case 'b': sb.Append('\b'); return i + 2;
            case 'f': sb.Append('\f'); return i + 2;
            case 'v': sb.Append('\v'); return i + 2;
            case '\n': return i + 2;
            case 'x': return AppendHex(sb, i, 2);
            case 'u': return AppendHex(sb, i, 4);
            case 'U': return AppendHex(sb, i, 8);
            default:
                if (e is >= '0' and <= '7')
                {
                    var j = i + 1;
                    var value = 0;
                    while (j < _src.Length && j < i + 4 && _src[j] is >= '0' and <= '7') value = value * 8 + (_src[j++] - '0');
                    sb.Append((char)value);
                    return j;
                }
                sb.Append('\\').Append(e);
                return i + 2;
        }
    }

    private int AppendHex(StringBuilder sb, int i, int digits)
    {
        if (i + 2 + digits > _src.Length ||
            !int.TryParse(_src.AsSpan(i + 2, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var cp))
            throw Error($"truncated \\{_src[i + 1]} escape in string literal", i);
        sb.Append(char.ConvertFromUtf32(cp));
        return i + 2 + digits;
    }
}
