using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.EndToEnd.Tests.ControlPlane;
using FineTuneLab.TestSupport;

namespace FineTuneLab.Cli.Tests;

/// <summary>
/// One real coordinator (with an API key) and one local CPU agent running the real trainer, and one tiny job submitted
/// and followed by <c>ftl submit --follow --yes</c> while <c>ftl logs -f</c> follows it from another process: every
/// test reads what that shared run produced, so the suite trains once.
/// </summary>
public sealed class CliCluster : IAsyncLifetime
{
    public const string ApiKey = "cli-test-key";

    private ControlPlaneCluster? _cluster;

    public ControlPlaneCluster Cluster => _cluster!;
    public FtlProcess Ftl { get; private set; } = null!;
    public string Dir { get; private set; } = null!;
    public string JobFile { get; private set; } = null!;
    public string JobId { get; private set; } = null!;
    /// <summary><c>ftl submit --dry-run --json</c> before any job ran: it uploads the inputs, and has no throughput to project with.</summary>
    public ExternalProcess.Result FirstDryRun { get; private set; } = null!;
    public ExternalProcess.Result Submit { get; private set; } = null!;
    public ExternalProcess.Result LogsFollow { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await ControlPlaneCluster.BuildRealTrainerAsync();
        await FtlProcess.BuildAsync();
        _cluster = new ControlPlaneCluster(Path.Combine(RepoPaths.Scripts, "ftl-train"));
        _cluster.Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
        await _cluster.StartCoordinatorAsync(["--api-key", ApiKey]);
        await _cluster.StartAgentAsync("cpu", pricePerHour: 0.5);

        Dir = Path.Combine(_cluster.Dir, "user");
        Ftl = new FtlProcess($"http://127.0.0.1:{_cluster.HttpPort}", ApiKey, Path.Combine(Dir, "config"));
        JobFile = WriteJobFolder(Dir);

        FirstDryRun = await Ftl.RunAsync(["submit", JobFile, "--dry-run", "--json", "--budget-usd", "5"], Ftl.Environment(), Dir);
        var submit = Ftl.RunAsync(["submit", JobFile, "--follow", "--yes", "--budget-usd", "5", "--project", "cli-tests"], Ftl.Environment(), Dir, TimeSpan.FromMinutes(6));
        string? id = null;
        await ControlPlaneCluster.WaitUntilAsync(async () =>
        {
            if (submit.IsCompleted) return true;
            id = (await _cluster.GetJsonAsync("/api/jobs"))["jobs"]!.AsArray().Select(j => j!["id"]!.GetValue<string>()).FirstOrDefault();
            return id is not null;
        }, TimeSpan.FromMinutes(5), () => $"ftl submit queued nothing:\n{_cluster.Logs()}");
        // Started while the job runs: it must end by itself when the job ends.
        var logs = id is null ? null : Ftl.RunAsync(["logs", id, "-f"], Ftl.Environment(), Dir, TimeSpan.FromMinutes(6));
        Submit = await submit;
        Assert.True(Submit.ExitCode == 0, $"ftl submit --follow exited {Submit.ExitCode}:\n{Submit.StdOut}\n{Submit.StdErr}\n{_cluster.Logs()}");
        JobId = id ?? (await _cluster.GetJsonAsync("/api/jobs"))["jobs"]![0]!["id"]!.GetValue<string>();
        LogsFollow = logs is null ? await Ftl.RunAsync("logs", JobId, "-f") : await logs;
    }

    /// <summary>The sample job, six steps long, in a folder of its own with the model and data beside it (relative paths, as a user has them).</summary>
    private static string WriteJobFolder(string dir)
    {
        var samples = Path.Combine(RepoPaths.Root, "samples");
        CopyFolder(Path.Combine(samples, "models", "tiny"), Path.Combine(dir, "models", "tiny"));
        Directory.CreateDirectory(Path.Combine(dir, "data"));
        foreach (var f in new[] { "train.jsonl", "test.jsonl" }) File.Copy(Path.Combine(samples, "data", f), Path.Combine(dir, "data", f));
        var spec = (JsonNode.Parse(File.ReadAllText(Path.Combine(samples, "jobs", "tiny-lora.json")), documentOptions: new JsonDocumentOptions
            { CommentHandling = JsonCommentHandling.Skip }) as JsonObject)!;
        spec.Remove("epochs");
        spec["name"] = "cli-tiny";
        spec["max_steps"] = 6;
        spec["eval"] = new JsonObject { ["every_steps"] = 3 };
        spec["checkpoint"] = new JsonObject { ["every_steps"] = 3, ["keep_last"] = 2 };
        spec["export"] = new JsonObject { ["gguf"] = "q8_0" }; // the run's own GGUF, which the package carries
        Directory.CreateDirectory(Path.Combine(dir, "jobs"));
        var file = Path.Combine(dir, "jobs", "tiny.json");
        File.WriteAllText(file, "// written by the CLI tests\n" + spec.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return file;
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (var d in Directory.GetDirectories(from)) CopyFolder(d, Path.Combine(to, Path.GetFileName(d)));
    }

    public async Task DisposeAsync()
    {
        if (_cluster is not null) await _cluster.DisposeAsync();
    }
}
