using System.Text.RegularExpressions;
using static FineTuneLab.Trainer.Tokenizers.UnicodeClass;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>Finds the next match of a Split pattern, as Oniguruma's find_iter does (leftmost, non-overlapping).</summary>
internal interface ISplitMatcher
{
    bool Find(ReadOnlySpan<char> text, int from, out int start, out int end);
}

/// <summary>Hand-written scanners equivalent to the well-known pre-tokenizer regexes (same backtracking results,
/// Unicode classes from <see cref="UnicodeClass"/>), picked by the exact pattern text; anything else goes to .NET Regex.</summary>
internal static class SplitMatchers
{
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    public const string Cl100kPattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    public const string QwenPattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    public const string O200kPattern = @"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>A matcher for a regex pattern: a hand-written scanner when the pattern is a known one, else .NET Regex.</summary>
    public static ISplitMatcher ForRegex(string pattern) => pattern switch
    {
        Gpt2Pattern => new Gpt2Matcher(),
        Cl100kPattern => new Cl100kMatcher(3),
        QwenPattern => new Cl100kMatcher(1),
        O200kPattern => new O200kMatcher(),
        _ => new DotNetRegexMatcher(new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled)),
    };

    public static ISplitMatcher ForLiteral(string literal) => new LiteralMatcher(literal);

    /// <summary>The scanner for a known pattern, null for others (tests compare scanners with .NET Regex).</summary>
    internal static ISplitMatcher? KnownScanner(string pattern) => ForRegex(pattern) is DotNetRegexMatcher ? null : ForRegex(pattern);

    private const ushort NotOther = Letter | Number | Space;

    /// <summary>Length of a contraction ('s 't 're 've 'm 'll 'd) at i, 0 when none; case-insensitive as Oniguruma's (?i) (ſ folds to s).</summary>
    internal static int Contraction(ReadOnlySpan<char> s, int i, bool ignoreCase)
    {
        if (i + 1 >= s.Length || s[i] != '\'') return 0;
        var a = Fold(s[i + 1], ignoreCase);
        if (a is 's' or 't' or 'm' or 'd') return 2;
        if (i + 2 >= s.Length) return 0;
        var b = Fold(s[i + 2], ignoreCase);
        return (a, b) is ('r', 'e') or ('v', 'e') or ('l', 'l') ? 3 : 0;
    }

    private static char Fold(char c, bool ignoreCase)
    {
        if (!ignoreCase) return c;
        if (c is >= 'A' and <= 'Z') return (char)(c + 32);
        return c == '\u017F' ? 's' : c;
    }

    /// <summary>End of the run of code points whose class has any of <paramref name="mask"/>.</summary>
    private static int RunEnd(ReadOnlySpan<char> s, int i, ushort mask)
    {
        while (i < s.Length && (At(s, i, out var w) & mask) != 0) i += w;
        return i;
    }

    /// <summary>End of the run of "other" code points ([^\s\p{L}\p{N}]).</summary>
    private static int OtherRunEnd(ReadOnlySpan<char> s, int i)
    {
        while (i < s.Length && (At(s, i, out var w) & NotOther) == 0) i += w;
        return i;
    }

    /// <summary>The whitespace alternatives \s*[\r\n]+ (when <paramref name="crlfFirst"/>), \s+(?!\S), \s+ at i (a whitespace char).</summary>
    private static int Whitespace(ReadOnlySpan<char> s, int i, bool crlfFirst)
    {
        var j = RunEnd(s, i, Space); // whitespace is all in the BMP, one unit per char
        if (crlfFirst)
            for (var k = j - 1; k >= i; k--)
                if (s[k] is '\r' or '\n') return k + 1;
        if (j == s.Length) return j;
        return j - 1 > i ? j - 1 : j;
    }

    private sealed class Gpt2Matcher : ISplitMatcher
    {
        public bool Find(ReadOnlySpan<char> s, int from, out int start, out int end)
        {
            start = from;
            if (from >= s.Length) { end = from; return false; }
            end = MatchAt(s, from);
            return true;
        }

        private static int MatchAt(ReadOnlySpan<char> s, int i)
        {
            var n = Contraction(s, i, ignoreCase: false);
            if (n > 0) return i + n;
            var j = s[i] == ' ' && i + 1 < s.Length ? i + 1 : i;
            var cls = At(s, j, out _);
            if ((cls & Letter) != 0) return RunEnd(s, j, Letter);
            if ((cls & Number) != 0) return RunEnd(s, j, Number);
            if ((cls & NotOther) == 0) return OtherRunEnd(s, j);
            // Here s[i] is whitespace (a space not followed by letter, number or other, or another space char).
            return Whitespace(s, i, crlfFirst: false);
        }
    }

    private sealed class Cl100kMatcher(int maxDigits) : ISplitMatcher
    {
        public bool Find(ReadOnlySpan<char> s, int from, out int start, out int end)
        {
            start = from;
            if (from >= s.Length) { end = from; return false; }
            end = MatchAt(s, from);
            return true;
        }

        private int MatchAt(ReadOnlySpan<char> s, int i)
        {
            var n = Contraction(s, i, ignoreCase: true);
            if (n > 0) return i + n;
            var cls = At(s, i, out var w);
            if ((cls & Letter) != 0) return RunEnd(s, i, Letter);
            if ((cls & (CrLf | Number)) == 0 && i + w < s.Length && (At(s, i + w, out _) & Letter) != 0)
                return RunEnd(s, i + w, Letter);
            if ((cls & Number) != 0)
            {
                var j = i;
                for (var d = 0; d < maxDigits && j < s.Length && (At(s, j, out var wd) & Number) != 0; d++) j += wd;
                return j;
            }
            var k = s[i] == ' ' && i + 1 < s.Length ? i + 1 : i;
            if ((At(s, k, out _) & NotOther) == 0)
            {
                var e = OtherRunEnd(s, k);
                while (e < s.Length && s[e] is '\r' or '\n') e++;
                return e;
            }
            if ((cls & Space) != 0) return Whitespace(s, i, crlfFirst: true);
            return i + w;
        }
    }

    private sealed class O200kMatcher : ISplitMatcher
    {
        public bool Find(ReadOnlySpan<char> s, int from, out int start, out int end)
        {
            start = from;
            if (from >= s.Length) { end = from; return false; }
            end = MatchAt(s, from);
            return true;
        }

        private static int MatchAt(ReadOnlySpan<char> s, int i)
        {
            var cls = At(s, i, out var w);
            var prefixOk = (cls & (CrLf | Letter | Number)) == 0 && i + w < s.Length;
            int e;
            if (prefixOk && (e = LowerWord(s, i + w)) > 0) return e;
            if ((e = LowerWord(s, i)) > 0) return e;
            if (prefixOk && (e = UpperWord(s, i + w)) > 0) return e;
            if ((e = UpperWord(s, i)) > 0) return e;
            if ((cls & Number) != 0)
            {
                var j = i;
                for (var d = 0; d < 3 && j < s.Length && (At(s, j, out var wd) & Number) != 0; d++) j += wd;
                return j;
            }
            var k = s[i] == ' ' && i + 1 < s.Length ? i + 1 : i;
            if ((At(s, k, out _) & NotOther) == 0)
            {
                e = OtherRunEnd(s, k);
                while (e < s.Length && s[e] is '\r' or '\n' or '/') e++;
                return e;
            }
            if ((cls & Space) != 0) return Whitespace(s, i, crlfFirst: true);
            return i + w;
        }

        /// <summary>[U]*[W]+ contraction? from p, with the regex's backtracking made explicit; 0 when it does not match.</summary>
        private static int LowerWord(ReadOnlySpan<char> s, int p)
        {
            var u = p;
            var lastW = -1;
            var lastWWidth = 0;
            while (u < s.Length)
            {
                var c = At(s, u, out var w);
                if ((c & UpperLike) == 0) break;
                if ((c & LowerLike) != 0) { lastW = u; lastWWidth = w; }
                u += w;
            }
            int end;
            if (u < s.Length && (At(s, u, out _) & LowerLike) != 0) end = RunEnd(s, u, LowerLike);
            else if (lastW >= 0) end = lastW + lastWWidth;
            else return 0;
            return end + Contraction(s, end, ignoreCase: true);
        }

        /// <summary>[U]+[W]* contraction? from p; 0 when it does not match.</summary>
        private static int UpperWord(ReadOnlySpan<char> s, int p)
        {
            var u = RunEnd(s, p, UpperLike);
            if (u == p) return 0;
            var end = RunEnd(s, u, LowerLike);
            return end + Contraction(s, end, ignoreCase: true);
        }
    }

    private sealed class LiteralMatcher(string literal) : ISplitMatcher
    {
        public bool Find(ReadOnlySpan<char> s, int from, out int start, out int end)
        {
            var k = literal.Length == 0 ? -1 : s[from..].IndexOf(literal, StringComparison.Ordinal);
            if (k < 0) { start = end = s.Length; return false; }
            start = from + k;
            end = start + literal.Length;
            return true;
        }
    }

    private sealed class DotNetRegexMatcher(Regex regex) : ISplitMatcher
    {
        public bool Find(ReadOnlySpan<char> s, int from, out int start, out int end)
        {
            foreach (var m in regex.EnumerateMatches(s, from))
            {
                start = m.Index;
                end = m.Index + m.Length;
                return true;
            }
            start = end = s.Length;
            return false;
        }
    }
}
