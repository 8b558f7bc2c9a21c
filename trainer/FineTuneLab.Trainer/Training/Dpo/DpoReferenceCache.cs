using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace FineTuneLab.Trainer.Training.Dpo;

/// <summary>
/// Reference log-probabilities saved once per dataset: a file <c>&lt;key&gt;.bin</c> whose key is the SHA-256 of
/// everything they depend on — the base model's files (config and weights, by content), the engine settings that change
/// the arithmetic (weight dtype, NF4 base, backend), how they were computed (training or evaluation path, pairs per
/// batch), and the tokenized pairs themselves (ids and labels: the data, the chat template, the tokenizer and
/// max_seq_len all show in them). Any change gives a new key, so a stale file is never read. Files are written to a
/// temporary name and renamed; a file that does not parse is ignored and rewritten.
/// </summary>
public static class DpoReferenceCache
{
    private const uint Magic = 0x464F5044; // "DPOF"
    private const int HeaderBytes = 8;

    /// <summary>The cache key (lower-case hex SHA-256).</summary>
    public static string Key(string modelDir, string engineSettings, string path, IReadOnlyList<DpoPair> pairs)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Text(string s)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            Span<byte> length = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(length, bytes.Length);
            sha.AppendData(length);
            sha.AppendData(bytes);
        }
        void Ints(int[] values)
        {
            Span<byte> length = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(length, values.Length);
            sha.AppendData(length);
            sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        }
        Text("ftl dpo reference v1");
        foreach (var file in ModelFiles(modelDir))
        {
            Text(Path.GetFileName(file));
            using var stream = File.OpenRead(file);
            Text(Convert.ToHexStringLower(SHA256.HashData(stream)));
        }
        Text(engineSettings);
        Text(path);
        foreach (var p in pairs)
        {
            Ints(p.ChosenIds);
            Ints(p.ChosenLabels);
            Ints(p.RejectedIds);
            Ints(p.RejectedLabels);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>config.json and the weight files: what decides the base model's log-probabilities.</summary>
    private static IEnumerable<string> ModelFiles(string modelDir) =>
        Directory.EnumerateFiles(modelDir)
            .Where(f => Path.GetFileName(f) == "config.json" || f.EndsWith(".safetensors", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);

    /// <summary>The saved references under <paramref name="key"/> in the first folder that has a valid file, or null.</summary>
    public static DpoReference[]? TryRead(IEnumerable<string> folders, string key, int pairs)
    {
        foreach (var folder in folders)
        {
            var file = Path.Combine(folder, key + ".bin");
            if (!File.Exists(file)) continue;
            var bytes = File.ReadAllBytes(file);
            if (bytes.Length != HeaderBytes + 16L * pairs || BinaryPrimitives.ReadUInt32LittleEndian(bytes) != Magic
                || BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4)) != pairs)
                continue;
            var result = new DpoReference[pairs];
            for (int i = 0; i < pairs; i++)
                result[i] = new DpoReference(BinaryPrimitives.ReadDoubleLittleEndian(bytes.AsSpan(HeaderBytes + 16 * i)),
                    BinaryPrimitives.ReadDoubleLittleEndian(bytes.AsSpan(HeaderBytes + 16 * i + 8)));
            return result;
        }
        return null;
    }

    /// <summary>Saves the references under <paramref name="key"/> in <paramref name="folder"/> (temp file + rename).</summary>
    public static string Write(string folder, string key, IReadOnlyList<DpoReference> references)
    {
        Directory.CreateDirectory(folder);
        var bytes = new byte[HeaderBytes + 16 * references.Count];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), references.Count);
        for (int i = 0; i < references.Count; i++)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(HeaderBytes + 16 * i), references[i].Chosen);
            BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(HeaderBytes + 16 * i + 8), references[i].Rejected);
        }
        var file = Path.Combine(folder, key + ".bin");
        var temp = $"{file}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, file, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
        return file;
    }

    /// <summary>
    /// The references from the first of <paramref name="folders"/> that holds them; otherwise computed and saved in the
    /// first folder. <paramref name="fromCache"/> says which happened.
    /// </summary>
    public static DpoReference[] GetOrCompute(IReadOnlyList<string> folders, string key, IReadOnlyList<DpoPair> pairs,
        Func<IReadOnlyList<DpoPair>, DpoReference[]> compute, out bool fromCache)
    {
        var cached = TryRead(folders, key, pairs.Count);
        fromCache = cached is not null;
        if (cached is not null)
        {
            // found beside an earlier run (the one resumed from): keep a copy with this run for its own resumes
            if (!File.Exists(Path.Combine(folders[0], key + ".bin"))) Write(folders[0], key, cached);
            return cached;
        }
        var computed = compute(pairs);
        Write(folders[0], key, computed);
        return computed;
    }
}
