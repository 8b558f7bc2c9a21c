using System.CommandLine;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using FineTuneLab.Cli.Api;
using FineTuneLab.Cli.Output;
using static FineTuneLab.Cli.Commands.CommandSupport;

namespace FineTuneLab.Cli.Commands;

/// <summary>
/// <c>ftl download adapter|package|checkpoint|metrics|gguf JOB</c>: streams a job's output to a file (temp file, then rename),
/// hashing it on the way. The adapter and checkpoints are stored by SHA-256 and must match it; the package is built on
/// request, so its adapter.tar is checked against the job's adapter hash instead; metrics have no stored hash.
/// </summary>
public static class DownloadCommand
{
    public static Command Create()
    {
        var download = new Command("download", "Download a job's adapter, training package, checkpoint, metrics or GGUF (SHA-256 verified)");
        download.Subcommands.Add(Adapter());
        download.Subcommands.Add(Package());
        download.Subcommands.Add(Checkpoint());
        download.Subcommands.Add(Metrics());
        download.Subcommands.Add(GgufDownload.Create());
        return download;
    }

    public static Option<string?> OutputOption() => new("--output", "-o") { Description = "File to write (or a folder for the default name); default ./JOB-WHAT.EXT" };

    private static Command Adapter()
    {
        var (job, output, json) = (JobArgument(), OutputOption(), JsonOption());
        var command = new Command("adapter", "The final adapter (PEFT layout) as a .tar, checked against its SHA-256") { job, output, json };
        command.SetClientAction(async (parse, client, ct) =>
        {
            var id = parse.GetValue(job)!;
            var expected = Format.Str((await client.GetJsonAsync(JobPath(id), ct))["adapter_sha256"]);
            var saved = await SaveAsync(client, JobPath(id, "/adapter"), Target(parse.GetValue(output), $"{id}-adapter.tar"), expected, ct);
            return Report(saved, parse.GetValue(json), "the job's adapter_sha256");
        });
        return command;
    }

    private static Command Checkpoint()
    {
        var (job, output, json) = (JobArgument(), OutputOption(), JsonOption());
        var step = new Option<long?>("--step") { Description = "The checkpoint's step (default: the latest; `ftl checkpoints JOB` lists them)" };
        var command = new Command("checkpoint", "A checkpoint as a .tar, checked against its SHA-256") { job, step, output, json };
        command.SetClientAction(async (parse, client, ct) =>
        {
            var id = parse.GetValue(job)!;
            var list = (await client.GetJsonAsync(JobPath(id, "/checkpoints"), ct) as JsonArray ?? []).OfType<JsonObject>().ToList();
            var wanted = parse.GetValue(step);
            var chosen = wanted is { } s ? list.FirstOrDefault(c => Format.Int(c["step"]) == s) : list.LastOrDefault();
            if (chosen is null)
                throw new CliFailure(wanted is null ? $"job {id} has no checkpoint yet"
                    : $"job {id} has no checkpoint at step {wanted} (it has: {(list.Count == 0 ? "none" : string.Join(", ", list.Select(c => Format.Int(c["step"]))))})");
            var at = Format.Int(chosen["step"])!.Value;
            var saved = await SaveAsync(client, JobPath(id, $"/checkpoints/{at}"), Target(parse.GetValue(output), $"{id}-checkpoint-{at}.tar"), Format.Str(chosen["sha256"]), ct);
            return Report(saved, parse.GetValue(json), "the checkpoint's sha256");
        });
        return command;
    }

    private static Command Package()
    {
        var (job, output, json) = (JobArgument(), OutputOption(), JsonOption());
        var command = new Command("package", "The training package .zip (spec, data, adapter, README with the command that reproduces the run)") { job, output, json };
        command.SetClientAction(async (parse, client, ct) =>
        {
            var id = parse.GetValue(job)!;
            var adapter = Format.Str((await client.GetJsonAsync(JobPath(id), ct))["adapter_sha256"]);
            var saved = await SaveAsync(client, JobPath(id, "/package"), Target(parse.GetValue(output), $"{id}-package.zip"), null, ct);
            if (adapter is not null)
            {
                var inside = await AdapterInsideAsync(saved.Path, ct);
                if (inside != adapter)
                {
                    File.Delete(saved.Path);
                    throw new CliFailure($"the package's adapter.tar has sha256 {inside ?? "(missing)"}, the job's adapter is {adapter}: the download is corrupt (deleted)");
                }
                saved = saved with { Verified = true };
            }
            return Report(saved, parse.GetValue(json), "the job's adapter_sha256 (its adapter.tar)");
        });
        return command;
    }

    private static Command Metrics()
    {
        var (job, output, json) = (JobArgument(), OutputOption(), JsonOption());
        var format = new Option<string>("--format") { Description = "csv or json", DefaultValueFactory = _ => "csv" };
        format.AcceptOnlyFromAmong("csv", "json");
        var command = new Command("metrics", "The per-step metrics (step, epoch, loss, lr, grad norm, tokens/s, eval loss, cost) as CSV or JSON") { job, format, output, json };
        command.SetClientAction(async (parse, client, ct) =>
        {
            var id = parse.GetValue(job)!;
            var f = parse.GetValue(format)!;
            var saved = await SaveAsync(client, JobPath(id, "/metrics") + Query(("format", f)), Target(parse.GetValue(output), $"{id}-metrics.{f}"), null, ct);
            return Report(saved, parse.GetValue(json), null);
        });
        return command;
    }

    public sealed record Saved(string Path, long Bytes, string Sha256, bool Verified);

    /// <summary>Streams the body to <paramref name="path"/> via a temp file beside it; a length or hash mismatch leaves nothing behind.</summary>
    public static async Task<Saved> SaveAsync(CoordinatorClient client, string apiPath, string path, string? expectedSha, CancellationToken ct)
    {
        using var response = await client.OpenAsync(apiPath, ct);
        return await SaveAsync(response, apiPath, path, expectedSha, ct);
    }

    /// <summary>As <see cref="SaveAsync(CoordinatorClient, string, string, string?, CancellationToken)"/>, from a response already open.</summary>
    public static async Task<Saved> SaveAsync(HttpResponseMessage response, string apiPath, string path, string? expectedSha, CancellationToken ct)
    {
        // The blob endpoints send the SHA-256 as the ETag: trust it only as a second opinion on the hash we were told.
        var etag = response.Headers.ETag?.Tag.Trim('"');
        expectedSha ??= etag;
        if (etag is not null && expectedSha is not null && etag != expectedSha)
            throw new CliFailure($"{apiPath}: the coordinator sends sha256 {etag} but lists {expectedSha}");
        var tmp = $"{path}.partial-{Environment.ProcessId}";
        long bytes = 0;
        string sha;
        try
        {
            await using (var file = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            await using (var body = await response.Content.ReadAsStreamAsync(ct))
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[1 << 16];
                int n;
                while ((n = await body.ReadAsync(buffer, ct)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    await file.WriteAsync(buffer.AsMemory(0, n), ct);
                    bytes += n;
                }
                sha = Convert.ToHexStringLower(hash.GetHashAndReset());
            }
            if (response.Content.Headers.ContentLength is { } length && length != bytes)
                throw new CliFailure($"{apiPath}: got {bytes} of {length} bytes (the connection was cut); nothing saved");
            if (expectedSha is not null && !string.Equals(sha, expectedSha, StringComparison.OrdinalIgnoreCase))
                throw new CliFailure($"{apiPath}: the bytes have sha256 {sha}, expected {expectedSha}; nothing saved");
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
        return new Saved(Path.GetFullPath(path), bytes, sha, expectedSha is not null);
    }

    private static async Task<string?> AdapterInsideAsync(string zipPath, CancellationToken ct)
    {
        await using var zip = await ZipFile.OpenReadAsync(zipPath, ct);
        if (zip.GetEntry("adapter.tar") is not { } entry) return null;
        await using var stream = await entry.OpenAsync(ct);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct));
    }

    private static string Target(string? output, string defaultName)
    {
        if (output is null) return defaultName;
        if (Directory.Exists(output)) return Path.Combine(output, defaultName);
        var dir = Path.GetDirectoryName(Path.GetFullPath(output))!;
        if (!Directory.Exists(dir)) throw new UsageException($"--output {output}: folder {dir} does not exist");
        return output;
    }

    public static int Report(Saved saved, bool json, string? checkedAgainst)
    {
        if (json)
        {
            Terminal.Json(new JsonObject { ["path"] = saved.Path, ["bytes"] = saved.Bytes, ["sha256"] = saved.Sha256, ["verified"] = saved.Verified });
            return ExitCodes.Ok;
        }
        Terminal.Line($"saved {saved.Path} ({Format.Bytes(saved.Bytes)}, sha256 {saved.Sha256})");
        Terminal.Line(saved.Verified ? $"verified against {checkedAgainst}" : "not verified: the coordinator keeps no hash for this file (it is generated on request)");
        return ExitCodes.Ok;
    }
}
