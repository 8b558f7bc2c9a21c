using System.Text;

namespace FineTuneLab.Trainer.Data;

/// <summary>
/// Finds near-duplicate examples in one pass with MinHash and locality-sensitive hashing. Text is normalized
/// (lower case, punctuation dropped, whitespace collapsed) and cut into word 3-gram shingles; 64 seeded hash functions
/// give a 64-value signature whose agreement rate estimates the Jaccard similarity of two shingle sets. Signatures are
/// split into 16 bands of 4 rows: two examples become candidates when any band matches (for a true similarity of
/// 0.8 that happens with probability 1 - (1 - 0.8^4)^16 ≈ 0.9998), and a candidate counts when its estimated
/// similarity reaches the threshold. Memory: 256 bytes per example; no pairwise comparison of the whole set.
/// </summary>
public sealed class NearDuplicateDetector(double threshold = 0.8)
{
    private const int Hashes = 64, Bands = 16, Rows = Hashes / Bands;
    private readonly List<uint[]> _signatures = [];
    private readonly List<long> _lines = [];
    private readonly Dictionary<ulong, int>[] _bands = Enumerable.Range(0, Bands).Select(_ => new Dictionary<ulong, int>()).ToArray();

    /// <summary>Adds an example; returns the line of an earlier near-duplicate and the estimated similarity, if any.</summary>
    public (long Line, double Similarity)? Add(long line, string text)
    {
        var signature = Signature(text);
        var index = _signatures.Count;
        _signatures.Add(signature);
        _lines.Add(line);
        (long, double)? found = null;
        for (var b = 0; b < Bands; b++)
        {
            var key = BandKey(signature, b);
            if (_bands[b].TryGetValue(key, out var other))
            {
                if (found is null)
                {
                    var similarity = Similarity(signature, _signatures[other]);
                    if (similarity >= threshold) found = (_lines[other], similarity);
                }
            }
            else
                _bands[b][key] = index;
        }
        return found;
    }

    private static double Similarity(uint[] a, uint[] b)
    {
        var same = 0;
        for (var i = 0; i < Hashes; i++) if (a[i] == b[i]) same++;
        return (double)same / Hashes;
    }

    private static ulong BandKey(uint[] s, int band)
    {
        var h = 0xcbf29ce484222325UL ^ (ulong)band;
        for (var r = 0; r < Rows; r++) h = Mix(h ^ s[band * Rows + r]);
        return h;
    }

    public static string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length);
        var space = true;
        foreach (var c in text)
        {
            if (char.IsLetterOrDigit(c))
            {
                sb.Append(char.ToLowerInvariant(c));
                space = false;
            }
            else if (!space)
            {
                sb.Append(' ');
                space = true;
            }
        }
        return sb.ToString().TrimEnd();
    }

    private static uint[] Signature(string text)
    {
        var words = Normalize(text).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var shingles = new List<ulong>();
        if (words.Length < 3) shingles.Add(Fnv(string.Join(' ', words)));
        else
            for (var i = 0; i + 3 <= words.Length; i++)
                shingles.Add(Fnv(words[i] + " " + words[i + 1] + " " + words[i + 2]));
        var sig = new uint[Hashes];
        Array.Fill(sig, uint.MaxValue);
        foreach (var s in shingles)
            for (var k = 0; k < Hashes; k++)
            {
                var h = (uint)(Mix(s ^ ((ulong)(k + 1) * 0x9E3779B97F4A7C15UL)) >> 32);
                if (h < sig[k]) sig[k] = h;
            }
        return sig;
    }

    private static ulong Fnv(string s)
    {
        var h = 0xcbf29ce484222325UL;
        foreach (var c in s)
        {
            h ^= c;
            h *= 0x100000001b3UL;
        }
        return h;
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
