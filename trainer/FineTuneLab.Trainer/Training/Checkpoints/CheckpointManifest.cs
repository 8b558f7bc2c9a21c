using System.Security.Cryptography;
using System.Text.Json;

namespace FineTuneLab.Trainer.Training.Checkpoints;

/// <summary>
/// <c>manifest.json</c> of a checkpoint: every other file with its size and SHA-256. Written last, so a checkpoint
/// without a manifest is one whose writing was cut short.
/// </summary>
public sealed record CheckpointManifest(int FormatVersion, long Step, IReadOnlyList<CheckpointFileEntry> Files)
{
    public const string FileName = "manifest.json";
    public const int CurrentFormatVersion = 1;

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    public static CheckpointManifest Build(string directory, long step)
    {
        var files = Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(directory, f).Replace('\\', '/'))
            .Where(f => f != FileName)
            .Order(StringComparer.Ordinal)
            .Select(f => new CheckpointFileEntry(f, new FileInfo(Path.Combine(directory, f)).Length, Sha256Of(Path.Combine(directory, f))))
            .ToList();
        return new CheckpointManifest(CurrentFormatVersion, step, files);
    }

    public byte[] ToUtf8() => JsonSerializer.SerializeToUtf8Bytes(this, Json);

    public static CheckpointManifest Parse(byte[] utf8, string path) =>
        JsonSerializer.Deserialize<CheckpointManifest>(utf8, Json) ?? throw new InvalidDataException($"{path}: empty manifest");

    public static string Sha256Of(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}

public sealed record CheckpointFileEntry(string Path, long Bytes, string Sha256);
