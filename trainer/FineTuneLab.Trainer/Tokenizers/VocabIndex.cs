using System.Runtime.CompilerServices;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>A compact read-only token → id index used while resolving merges at load time: one open-addressing array of
/// (hash, id) and the token chars in one arena, so a lookup touches two cache lines instead of a Dictionary's three or
/// four (the merges of a large vocabulary are a million and a half random lookups).</summary>
internal sealed class VocabIndex
{
    private readonly long[] _slots;
    private readonly int _mask;
    private readonly char[] _arena;
    private readonly int[] _start;
    private readonly int[] _length;

    public VocabIndex(string?[] idToToken)
    {
        var count = 0;
        var chars = 0;
        foreach (var t in idToToken)
            if (t is not null) { count++; chars += t.Length; }
        var size = 16;
        while (size < count * 2) size <<= 1;
        _slots = new long[size];
        _mask = size - 1;
        _arena = new char[chars];
        _start = new int[idToToken.Length];
        _length = new int[idToToken.Length];
        var at = 0;
        for (var id = 0; id < idToToken.Length; id++)
        {
            var t = idToToken[id];
            if (t is null) continue;
            t.CopyTo(_arena.AsSpan(at));
            _start[id] = at;
            _length[id] = t.Length;
            at += t.Length;
            var h = Hash(t);
            var i = (int)h & _mask;
            while (_slots[i] != 0) i = (i + 1) & _mask;
            _slots[i] = ((long)h << 32) | (uint)(id + 1);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Hash(ReadOnlySpan<char> s)
    {
        var h = 2166136261u;
        foreach (var c in s) h = (h ^ c) * 16777619u;
        return h ^ (h >> 15);
    }

    public bool TryGetId(ReadOnlySpan<char> token, out int id)
    {
        var h = Hash(token);
        var i = (int)h & _mask;
        while (true)
        {
            var slot = _slots[i];
            if (slot == 0) { id = -1; return false; }
            if ((uint)(slot >> 32) == h)
            {
                id = (int)(uint)slot - 1;
                if (token.SequenceEqual(_arena.AsSpan(_start[id], _length[id]))) return true;
            }
            i = (i + 1) & _mask;
        }
    }
}
