using System.Runtime.CompilerServices;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>Text being normalized and pre-tokenized, with each UTF-16 unit's span in the original input
/// (HF's NormalizedString alignments), so token offsets can be mapped back. Reused across calls, grows as needed.</summary>
internal sealed class NormalizedBuffer
{
    public char[] Chars = new char[256];
    public int[] OrigStart = new int[256];
    public int[] OrigEnd = new int[256];
    public int Length;

    public Span<char> Text => Chars.AsSpan(0, Length);

    public void Clear() => Length = 0;

    public void EnsureCapacity(int capacity)
    {
        if (capacity <= Chars.Length) return;
        var n = Math.Max(capacity, Chars.Length * 2);
        Array.Resize(ref Chars, n);
        Array.Resize(ref OrigStart, n);
        Array.Resize(ref OrigEnd, n);
    }

    /// <summary>Loads <paramref name="text"/>[start..end) unchanged: unit i maps to (i, i+1) in the input.</summary>
    public void Load(ReadOnlySpan<char> text, int start, int end)
    {
        var n = end - start;
        EnsureCapacity(n);
        text[start..end].CopyTo(Chars);
        var os = OrigStart;
        var oe = OrigEnd;
        for (var i = 0; i < n; i++)
        {
            os[i] = start + i;
            oe[i] = start + i + 1;
        }
        Length = n;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Append(char c, int origStart, int origEnd)
    {
        if (Length == Chars.Length) EnsureCapacity(Length + 1);
        Chars[Length] = c;
        OrigStart[Length] = origStart;
        OrigEnd[Length] = origEnd;
        Length++;
    }

    /// <summary>Appends units [start, start+count) of <paramref name="from"/> (which may be this buffer) with their alignments.</summary>
    public void AppendRange(NormalizedBuffer from, int start, int count)
    {
        EnsureCapacity(Length + count);
        Array.Copy(from.Chars, start, Chars, Length, count);
        Array.Copy(from.OrigStart, start, OrigStart, Length, count);
        Array.Copy(from.OrigEnd, start, OrigEnd, Length, count);
        Length += count;
    }
}

/// <summary>A piece of a <see cref="NormalizedBuffer"/> after pre-tokenization: a text range, or an added token already matched.</summary>
internal readonly record struct Piece(int Start, int Length, int TokenId = -1)
{
    public bool IsToken => TokenId >= 0;
}

/// <summary>A reusable list of pieces.</summary>
internal sealed class PieceList
{
    public Piece[] Items = new Piece[64];
    public int Count;

    public void Clear() => Count = 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(Piece p)
    {
        if (Count == Items.Length) Array.Resize(ref Items, Items.Length * 2);
        Items[Count++] = p;
    }

    public ref Piece this[int i] => ref Items[i];
}
