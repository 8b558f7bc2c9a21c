using System.Security.Cryptography;
using FineTuneLab.Cli.Api;

namespace FineTuneLab.Cli.Submit;

/// <summary>
/// Puts the spec's local inputs into the coordinator's blob store and rewrites them to <c>artifact:&lt;sha256&gt;</c>:
/// each is hashed here first, and uploaded only when the coordinator does not have that hash yet.
/// </summary>
public sealed class ArtifactUploader(CoordinatorClient client)
{
    public sealed record Result(string Field, string LocalPath, string Name, string Sha256, long Bytes, bool Uploaded);

    public async Task<List<Result>> UploadAsync(IReadOnlyList<LocalInputs.Input> inputs, Action<string> progress, CancellationToken cancellationToken)
    {
        var results = new List<Result>();
        var done = new Dictionary<string, Result>(StringComparer.Ordinal);
        var scratch = Directory.CreateTempSubdirectory("ftl-upload-");
        try
        {
            foreach (var input in inputs)
            {
                if (!done.TryGetValue(input.LocalPath, out var result))
                {
                    var name = Path.GetFileName(input.LocalPath.TrimEnd(Path.DirectorySeparatorChar)) + (input.IsFolder ? ".tar" : "");
                    var file = input.LocalPath;
                    if (input.IsFolder)
                    {
                        progress($"packing {input.LocalPath} into {name}");
                        file = Path.Combine(scratch.FullName, name);
                        await FolderTar.WriteAsync(input.LocalPath, file, cancellationToken);
                    }
                    var sha = await HashAsync(file, cancellationToken);
                    var bytes = new FileInfo(file).Length;
                    var uploaded = false;
                    if (!await client.ArtifactExistsAsync(sha, cancellationToken))
                    {
                        progress($"uploading {name} ({Output.Format.Bytes(bytes)})");
                        var answer = await client.UploadAsync(file, name, input.Kind, cancellationToken);
                        var stored = Output.Format.Str(answer["sha256"]);
                        if (stored != sha)
                            throw new CliFailure($"{input.Field}: the coordinator stored {name} as sha256 {stored}, but its bytes here hash to {sha}");
                        uploaded = true;
                    }
                    result = new Result(input.Field, input.LocalPath, name, sha, bytes, uploaded);
                    done[input.LocalPath] = result;
                }
                else
                {
                    result = result with { Field = input.Field, Uploaded = false };
                }
                input.Replace("artifact:" + result.Sha256);
                results.Add(result);
            }
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
        return results;
    }

    private static async Task<string> HashAsync(string file, CancellationToken cancellationToken)
    {
        await using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
    }
}
