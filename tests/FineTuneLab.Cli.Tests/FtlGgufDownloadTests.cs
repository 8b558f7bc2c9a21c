using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using FineTuneLab.TestSupport;

namespace FineTuneLab.Cli.Tests;

/// <summary>
/// <c>ftl download gguf</c> over <c>GET /api/jobs/{id}/export</c>: the coordinator builds the cluster's finished job's
/// GGUF with the trainer's own exporter, and the file is the one <c>ftl-train export</c> writes from the same model
/// and adapter on this machine, byte for byte.
/// </summary>
[Collection(CliCollection.Name)]
public sealed class FtlGgufDownloadTests(CliCluster cli)
{
    [Fact]
    public async Task A_finished_jobs_gguf_is_built_once_and_is_the_trainers_own_export()
    {
        var folder = Path.Combine(cli.Dir, "gguf-" + Guid.NewGuid().ToString("N")[..8]);
        var r = await cli.Ftl.RunAsync(["download", "gguf", cli.JobId, "--quant", "q8_0", "-o", folder, "--json"], cli.Ftl.Environment(), cli.Dir,
            TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        var saved = JsonNode.Parse(r.StdOut)!;
        Assert.Equal(Path.Combine(folder, "model-q8_0.gguf"), saved["path"]!.GetValue<string>());
        Assert.True(saved["verified"]!.GetValue<bool>());
        var gguf = await File.ReadAllBytesAsync(Path.Combine(folder, "model-q8_0.gguf"));
        Assert.Equal("GGUF"u8.ToArray(), gguf[..4]);
        Assert.Contains("FROM ./model-q8_0.gguf", await File.ReadAllTextAsync(Path.Combine(folder, "Modelfile")));

        // The same export made here from the job's adapter and the sample model.
        var adapter = Path.Combine(cli.Dir, "gguf-adapter-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(adapter);
        await TarFile.ExtractToDirectoryAsync(new MemoryStream(await cli.Cluster.Http.GetByteArrayAsync($"/api/jobs/{cli.JobId}/adapter")), adapter, false);
        var local = Path.Combine(cli.Dir, "gguf-local-" + Guid.NewGuid().ToString("N")[..8]);
        var export = await ExternalProcess.RunAsync(Path.Combine(RepoPaths.Scripts, "ftl-train"),
            ["export", "--model", Path.Combine(cli.Dir, "models", "tiny"), "--adapter", adapter, "--out", local, "--format", "gguf", "--quant", "q8_0"]);
        export.EnsureSuccess("ftl-train export --format gguf");
        Assert.Equal(SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(local, "model-q8_0.gguf"))), SHA256.HashData(gguf));

        // Built once: the API now serves it at once, by its SHA-256.
        using var again = await cli.Cluster.Http.GetAsync($"/api/jobs/{cli.JobId}/export?format=gguf&quant=q8_0");
        Assert.Equal(System.Net.HttpStatusCode.OK, again.StatusCode);
        Assert.Equal($"\"{saved["sha256"]!.GetValue<string>()}\"", again.Headers.ETag!.Tag);

        var lora = await cli.Ftl.RunAsync(["download", "gguf", cli.JobId, "--lora", "-o", folder, "--json"], cli.Ftl.Environment(), cli.Dir, TimeSpan.FromMinutes(5));
        Assert.True(lora.ExitCode == 0, lora.StdErr + lora.StdOut);
        Assert.EndsWith("adapter.gguf", JsonNode.Parse(lora.StdOut)!["path"]!.GetValue<string>());

        // The run's own export (spec "export": {"gguf": "q8_0"}), made on the agent, travels in the training package.
        using var package = new System.IO.Compression.ZipArchive(new MemoryStream(await cli.Cluster.Http.GetByteArrayAsync($"/api/jobs/{cli.JobId}/package")));
        var tar = package.GetEntry("gguf.tar") ?? throw new Xunit.Sdk.XunitException("the package has no gguf.tar");
        var runExport = Path.Combine(cli.Dir, "gguf-run-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(runExport);
        await using (var entry = tar.Open()) await TarFile.ExtractToDirectoryAsync(entry, runExport, false);
        Assert.Equal("GGUF"u8.ToArray(), (await File.ReadAllBytesAsync(Path.Combine(runExport, "model-q8_0.gguf")))[..4]);
        Assert.Contains("FROM ./model-q8_0.gguf", await File.ReadAllTextAsync(Path.Combine(runExport, "Modelfile")));

        using var bad = await cli.Cluster.Http.GetAsync($"/api/jobs/{cli.JobId}/export?quant=q3");
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("quant 'q3' is not one of", await bad.Content.ReadAsStringAsync());
    }
}
