using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>Character classes used by the pre-tokenizer regexes (Oniguruma semantics: \p{L}, \p{N}, \s as Unicode White_Space),
/// precomputed for the BMP and computed per rune beyond it.</summary>
internal static class UnicodeClass
{
    public const ushort Letter = 1;        // \p{L}
    public const ushort Number = 2;        // \p{N}
    public const ushort Space = 4;         // \s (White_Space)
    public const ushort Mark = 8;          // \p{M}
    public const ushort UpperLike = 16;    // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] (o200k)
    public const ushort LowerLike = 32;    // [\p{Ll}\p{Lm}\p{Lo}\p{M}] (o200k)
    public const ushort CrLf = 64;         // \r or \n
    public const ushort Word = 128;        // \w of Rust's regex crate (alphanumeric, marks, connector punctuation)

    private static readonly ushort[] Bmp = BuildBmp();

    private static ushort[] BuildBmp()
    {
        var table = new ushort[65536];
        for (var c = 0; c < 65536; c++)
        {
            if (c is >= 0xD800 and <= 0xDFFF) continue;
            table[c] = Compute(CharUnicodeInfo.GetUnicodeCategory((char)c), c);
        }
        return table;
    }

    private static ushort Compute(UnicodeCategory cat, int cp)
    {
        ushort f = 0;
        switch (cat)
        {
            case UnicodeCategory.UppercaseLetter:
            case UnicodeCategory.TitlecaseLetter:
                f |= Letter | UpperLike | Word; break;
            case UnicodeCategory.LowercaseLetter:
                f |= Letter | LowerLike | Word; break;
            case UnicodeCategory.ModifierLetter:
            case UnicodeCategory.OtherLetter:
                f |= Letter | UpperLike | LowerLike | Word; break;
            case UnicodeCategory.NonSpacingMark:
            case UnicodeCategory.SpacingCombiningMark:
            case UnicodeCategory.EnclosingMark:
                f |= Mark | UpperLike | LowerLike | Word; break;
            case UnicodeCategory.DecimalDigitNumber:
            case UnicodeCategory.LetterNumber:
            case UnicodeCategory.OtherNumber:
                f |= Number | Word; break;
            case UnicodeCategory.ConnectorPunctuation:
                f |= Word; break;
        }
        if (cp < 0x10000 && char.IsWhiteSpace((char)cp)) f |= Space;
        if (cp is '\r' or '\n') f |= CrLf;
        return f;
    }

    /// <summary>Class flags of the code point at <paramref name="i"/>, and its length in UTF-16 units.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort At(ReadOnlySpan<char> s, int i, out int width)
    {
        var c = s[i];
        if (!char.IsSurrogate(c)) { width = 1; return Bmp[c]; }
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            width = 2;
            var cp = char.ConvertToUtf32(c, s[i + 1]);
            return Compute(Rune.GetUnicodeCategory(new Rune(cp)), cp);
        }
        width = 1; // a lone surrogate: no class, like an invalid char
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Of(char c) => Bmp[c];
}
