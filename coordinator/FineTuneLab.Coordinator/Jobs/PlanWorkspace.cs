using System.Buffers.Binary;
using System.Formats.Tar;
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Blobs;
using FineTuneLab.Shared.Jobs;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>
/// A job's inputs laid out for <c>ftl-train plan</c> on the coordinator, which holds them as blobs: the spec's
/// <c>artifact:</c> references point at the blob files (datasets), or for a model folder (a tar) at its plan view.
/// The planner reads config.json, the tokenizer, the chat template, safetensors headers and file sizes, never the
/// weights; so a plan view keeps every small file and writes each <c>*.safetensors</c> as a sparse file that holds
/// its real header at its real length: a 16 GB model costs a few kilobytes of disk. Views are built once per model
/// (temp folder, then rename) under <c>DATA_DIR/plan-views</c>.
/// </summary>
public static class PlanWorkspace
{
    /// <summary>The spec with local paths, or null when a reference is not a blob here.</summary>
    public static async Task<string?> ResolveAsync(string specJson, BlobStore blobs, string dataDir, CancellationToken cancellationToken)
    {
        var local = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var sha in AssignmentBuilder.ArtifactRefs(specJson))
        {
            if (!blobs.Exists(sha)) return null;
            var blob = blobs.PathOf(sha);
            local[sha] = IsTar(blob) ? await ViewAsync(blob, Path.Combine(dataDir, "plan-views", sha), cancellationToken) : blob;
        }
        return SpecArtifacts.Rewrite(JsonNode.Parse(specJson)!, sha => local.GetValueOrDefault(sha)).ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>POSIX tar ("ustar" at offset 257), which is how folders travel as artifacts.</summary>
    private static bool IsTar(string file)
    {
        Span<byte> magic = stackalloc byte[5];
        using var f = File.OpenRead(file);
        if (f.Length < 512) return false;
        f.Position = 257;
        return f.ReadAtLeast(magic, 5, throwOnEndOfStream: false) == 5 && magic.SequenceEqual("ustar"u8);
    }

    private static async Task<string> ViewAsync(string tarFile, string folder, CancellationToken cancellationToken)
    {
        if (Directory.Exists(folder)) return folder;
        var tmp = $"{folder}.tmp-{Guid.NewGuid():N}";
        Directory.CreateDirectory(tmp);
        try
        {
            await using var stream = File.OpenRead(tarFile);
            await using var reader = new TarReader(stream);
            while (await reader.GetNextEntryAsync(copyData: false, cancellationToken) is { } entry)
            {
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null) continue;
                var target = Path.GetFullPath(Path.Combine(tmp, entry.Name));
                if (!target.StartsWith(tmp + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                    throw new InvalidDataException($"{tarFile}: entry {entry.Name} points outside the folder");
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                await using var output = File.Create(target);
                if (entry.Name.EndsWith(".safetensors", StringComparison.Ordinal)) await CopyHeaderAsync(entry.DataStream, output, entry.Length, cancellationToken);
                else await entry.DataStream.CopyToAsync(output, cancellationToken);
            }
            Directory.Move(tmp, folder);
        }
        catch (IOException) when (Directory.Exists(folder))
        {
            // Another dry run built the same view first.
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        }
        return folder;
    }

    /// <summary>A safetensors file is an 8-byte little-endian header length, the JSON header, then the tensor bytes.</summary>
    private static async Task CopyHeaderAsync(Stream data, FileStream output, long length, CancellationToken cancellationToken)
    {
        var prefix = new byte[8];
        await data.ReadExactlyAsync(prefix, cancellationToken);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > 100_000_000 || 8 + (long)headerLength > length)
            throw new InvalidDataException($"a safetensors header of {headerLength} bytes in a {length}-byte file");
        var header = new byte[headerLength];
        await data.ReadExactlyAsync(header, cancellationToken);
        await output.WriteAsync(prefix, cancellationToken);
        await output.WriteAsync(header, cancellationToken);
        output.SetLength(length);
    }
}
