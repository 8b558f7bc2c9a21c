using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using System.Text;
using System.Text.Unicode;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>The model vocabulary keyed by the tokens' UTF-8 bytes, as they stand in tokenizer.json: built from the JSON
/// bytes without a string per token, so that loading resolves half a million merges by hashing byte spans of the file.
/// One open-addressing array of 16-byte slots (hash tag, id, and the key itself when it fits in 8 bytes, else where it
/// lies in one byte arena): a lookup of a short token touches one cache line, a long one two. Token strings (for
/// decoding) are made on first use. Read-only and thread-safe once built.</summary>
internal sealed class Utf8Vocabulary
{
    private struct Slot
    {
        public uint Tag;    // the hash's upper 24 bits, then min(length, 255)
        public int IdPlus1; // 0: empty
        public ulong Key;   // up to 8 bytes inline (little-endian, zero-padded), else (arena start << 32) | length
    }

    private const int InlineBytes = 8;

    private readonly Slot[] _slots;
    private readonly int _mask;
    private readonly byte[] _arena;
    private readonly long[] _keyById; // (start << 32) | length, or -1 when no token has this id
    private readonly string?[] _strings;

    private Utf8Vocabulary(Slot[] slots, byte[] arena, long[] keyById, int count)
    {
        _slots = slots;
        _mask = slots.Length - 1;
        _arena = arena;
        _keyById = keyById;
        _strings = new string?[keyById.Length];
        Count = count;
    }

    /// <summary>Distinct tokens.</summary>
    public int Count { get; }

    /// <summary>One more than the largest id (ids may have gaps).</summary>
    public int IdCount => _keyById.Length;

    public const uint HashSeed = 2166136261u;

    /// <summary>FNV-1a over bytes, continuable: the hash of a concatenation is the hash of its second part started from
    /// the first part's state, which lets a merge look up "a" + "b" without building it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint HashStep(uint state, ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes) state = (state ^ b) * 16777619u;
        return state;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint HashFinish(uint state)
    {
        // murmur3's fmix32: FNV's low bits alone cluster on short keys.
        state ^= state >> 16;
        state *= 0x85EBCA6Bu;
        state ^= state >> 13;
        state *= 0xC2B2AE35u;
        return state ^ (state >> 16);
    }

    public bool TryGetId(ReadOnlySpan<byte> utf8, out int id) => TryGetId(utf8, [], HashFinish(HashStep(HashSeed, utf8)), out id);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint TagOf(uint hash, int length) => (hash & 0xFFFFFF00u) | (uint)Math.Min(length, 255);

    /// <summary>Up to 8 bytes as a little-endian integer, zero-padded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Pack(ReadOnlySpan<byte> bytes)
    {
        ulong value = 0;
        bytes.CopyTo(MemoryMarshal.AsBytes(new Span<ulong>(ref value)));
        return BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value);
    }

    /// <summary>Starts fetching the slot where a lookup of this hash begins (a hint; merges resolve in batches so that
    /// their cache misses overlap).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Prefetch(uint hash)
    {
        if (Sse.IsSupported) Sse.Prefetch0(Unsafe.AsPointer(ref _slots[(int)hash & _mask]));
    }

    /// <summary>Looks up the concatenation <paramref name="first"/> + <paramref name="second"/> whose hash is given.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool TryGetId(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, uint hash, out int id)
    {
        var length = first.Length + second.Length;
        var tag = TagOf(hash, length);
        var slots = _slots;
        var i = (int)hash & _mask;
        if (length <= InlineBytes)
        {
            var packed = Pack(first);
            if (second.Length > 0) packed |= Pack(second) << (8 * first.Length);
            while (true)
            {
                ref readonly var s = ref slots[i];
                if (s.IdPlus1 == 0) { id = -1; return false; }
                if (s.Tag == tag && s.Key == packed) { id = s.IdPlus1 - 1; return true; }
                i = (i + 1) & _mask;
            }
        }
        while (true)
        {
            ref readonly var s = ref slots[i];
            if (s.IdPlus1 == 0) { id = -1; return false; }
            if (s.Tag == tag && (int)s.Key == length)
            {
                var key = _arena.AsSpan((int)(s.Key >> 32), length);
                if (key[..first.Length].SequenceEqual(first) && (second.IsEmpty || key[first.Length..].SequenceEqual(second)))
                {
                    id = s.IdPlus1 - 1;
                    return true;
                }
            }
            i = (i + 1) & _mask;
        }
    }

    /// <summary>Looks up UTF-16 text (transcoded on the stack for short tokens); text that is not valid UTF-16 is no token.</summary>
    public bool TryGetId(ReadOnlySpan<char> token, out int id)
    {
        var max = token.Length * 3;
        byte[]? rented = null;
        var buffer = max <= 512 ? stackalloc byte[max] : (rented = ArrayPool<byte>.Shared.Rent(max));
        var found = false;
        id = -1;
        if (Utf8.FromUtf16(token, buffer, out _, out var written, replaceInvalidSequences: false) == OperationStatus.Done)
            found = TryGetId(buffer[..written], out id);
        if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        return found;
    }

    public int? TokenToId(string token) => TryGetId(token.AsSpan(), out var id) ? id : null;

    /// <summary>The token with this id, or null when the vocabulary has none.</summary>
    public string? Token(int id)
    {
        if ((uint)id >= (uint)_keyById.Length) return null;
        var s = _strings[id];
        if (s is not null) return s;
        var key = _keyById[id];
        if (key < 0) return null;
        // Two threads may both build it; either string is the same, and a reference store is atomic.
        return _strings[id] = Encoding.UTF8.GetString(_arena, (int)(key >> 32), (int)key);
    }

    /// <summary>Sets table[c] = id for every token that is one UTF-16 character c.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void FillSingleCharIds(int[] table)
    {
        for (var id = 0; id < _keyById.Length; id++)
        {
            var key = _keyById[id];
            if (key < 0 || (int)key is 0 or > 3) continue;
            if (Rune.DecodeFromUtf8(_arena.AsSpan((int)(key >> 32), (int)key), out var rune, out var consumed) == OperationStatus.Done &&
                consumed == (int)key && rune.IsBmp)
                table[rune.Value] = id;
        }
    }

    /// <summary>Collects tokens as they stream out of the JSON (key bytes copied into one arena, hashed while hot in the
    /// cache); <see cref="Build"/> then sizes the table once, with no rehashing.</summary>
    public sealed class Builder
    {
        private byte[] _arena = new byte[1 << 16];
        private int _used;
        private int[] _entries = new int[4 << 12]; // per token: start, length, id, hash
        private int _count;
        private int _maxId = -1;

        public int Count => _count;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(ReadOnlySpan<byte> key, int id)
        {
            if (_arena.Length - _used < key.Length) Array.Resize(ref _arena, Math.Max(_arena.Length * 2, _used + key.Length));
            key.CopyTo(_arena.AsSpan(_used));
            if (_entries.Length < 4 * (_count + 1)) Array.Resize(ref _entries, _entries.Length * 2);
            var e = 4 * _count++;
            _entries[e] = _used;
            _entries[e + 1] = key.Length;
            _entries[e + 2] = id;
            _entries[e + 3] = (int)HashFinish(HashStep(HashSeed, key));
            _used += key.Length;
            if (id > _maxId) _maxId = id;
        }

        /// <summary>A token listed twice keeps its last id (as a JSON map read into HF's HashMap); an id listed twice
        /// decodes to the last token given it. Throws when a token is not valid UTF-8 (the scanner copies them byte for
        /// byte).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public Utf8Vocabulary Build(string file)
        {
            var arena = _arena;
            if (!Utf8.IsValid(arena.AsSpan(0, _used))) throw InvalidToken(file);
            var size = 16;
            while (size < _count * 2) size <<= 1;
            var slots = new Slot[size];
            var mask = size - 1;
            var keyById = GC.AllocateUninitializedArray<long>(_maxId + 1);
            keyById.AsSpan().Fill(-1);
            var distinct = 0;
            const int batch = 16;
            for (var e = 0; e < 4 * _count; e += 4)
            {
                // Prefetch the slots of the next batch, so that its cache misses overlap with inserting this one.
                if (e % (4 * batch) == 0 && Sse.IsSupported)
                    for (var next = e + 4 * batch; next < Math.Min(4 * _count, e + 8 * batch); next += 4)
                        PrefetchSlot(slots, _entries[next + 3] & mask);
                int start = _entries[e], length = _entries[e + 1], id = _entries[e + 2];
                var hash = (uint)_entries[e + 3];
                var tag = TagOf(hash, length);
                var key = length <= InlineBytes ? Pack(arena.AsSpan(start, length)) : ((ulong)start << 32) | (uint)length;
                var i = (int)hash & mask;
                while (true)
                {
                    ref var s = ref slots[i];
                    if (s.IdPlus1 == 0)
                    {
                        s = new Slot { Tag = tag, IdPlus1 = id + 1, Key = key };
                        distinct++;
                        break;
                    }
                    if (s.Tag == tag && (length <= InlineBytes ? s.Key == key
                            : (int)s.Key == length && arena.AsSpan((int)(s.Key >> 32), length).SequenceEqual(arena.AsSpan(start, length))))
                    {
                        var old = keyById[s.IdPlus1 - 1];
                        if (old != -1 && arena.AsSpan((int)(old >> 32), (int)old).SequenceEqual(arena.AsSpan(start, length)))
                            keyById[s.IdPlus1 - 1] = -1;
                        s.IdPlus1 = id + 1;
                        s.Key = key;
                        break;
                    }
                    i = (i + 1) & mask;
                }
                keyById[id] = ((long)start << 32) | (uint)length;
            }
            return new Utf8Vocabulary(slots, arena, keyById, distinct);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static unsafe void PrefetchSlot(Slot[] slots, int i) => Sse.Prefetch0(Unsafe.AsPointer(ref slots[i]));

        private TokenizerFormatException InvalidToken(string file)
        {
            for (var e = 0; e < 4 * _count; e += 4)
                if (!Utf8.IsValid(_arena.AsSpan(_entries[e], _entries[e + 1])))
                    return new TokenizerFormatException(file, "$.model.vocab", $"the token with id {_entries[e + 2]} is not valid UTF-8");
            return new TokenizerFormatException(file, "$.model.vocab", "a token is not valid UTF-8");
        }
    }
}
