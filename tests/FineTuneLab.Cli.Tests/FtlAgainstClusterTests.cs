using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTuneLab.Cli.Tests;

/// <summary>The real ftl binary against a real coordinator and agent (the job they share is run once, by <see cref="CliCluster"/>).</summary>
[Collection(CliCollection.Name)]
public sealed class FtlAgainstClusterTests(CliCluster cli)
{
    private static JsonNode Parse(string json) => JsonNode.Parse(json) ?? throw new InvalidOperationException("ftl printed null");

    [Fact]
    public async Task Submit_uploads_the_local_inputs_and_follows_the_job_to_success()
    {
        // The dry run before it uploaded the inputs.
        Assert.True(cli.FirstDryRun.ExitCode == 0, cli.FirstDryRun.StdErr + cli.FirstDryRun.StdOut);
        var uploads = Parse(cli.FirstDryRun.StdOut)["uploads"]!.AsArray();
        Assert.Equal(["model.path", "data.train", "data.validation"], uploads.Select(u => u!["field"]!.GetValue<string>()));
        Assert.All(uploads, u => Assert.True(u!["uploaded"]!.GetValue<bool>()));
        var output = cli.Submit.StdOut;
        Assert.Contains($"submitted {cli.JobId}", output);
        Assert.Contains("step 6/6", output);
        Assert.Contains($"succeeded: {cli.JobId}", output);
        Assert.Contains("spent $", output);

        var job = await cli.Cluster.GetJsonAsync($"/api/jobs/{cli.JobId}");
        Assert.Equal("succeeded", job["state"]!.GetValue<string>());
        Assert.Equal("cli-tests", job["project"]!.GetValue<string>());
        Assert.Equal(5.0, job["budget"]!["max_usd"]!.GetValue<double>());
        // The local paths became references to the uploaded bytes.
        var model = job["spec"]!["model"]!["path"]!.GetValue<string>();
        Assert.StartsWith("artifact:", model);
        var train = job["spec"]!["data"]!["train"]!.GetValue<string>();
        var bytes = await File.ReadAllBytesAsync(Path.Combine(cli.Dir, "data", "train.jsonl"));
        Assert.Equal("artifact:" + Convert.ToHexStringLower(SHA256.HashData(bytes)), train);
    }

    [Fact]
    public async Task A_second_submit_finds_every_input_already_uploaded()
    {
        var r = await cli.Ftl.RunAsync(["submit", cli.JobFile, "--dry-run", "--json"], cli.Ftl.Environment(), cli.Dir);
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        var answer = Parse(r.StdOut);
        Assert.True(answer["valid"]!.GetValue<bool>());
        var uploads = answer["uploads"]!.AsArray();
        Assert.Equal(["model.path", "data.train", "data.validation"], uploads.Select(u => u!["field"]!.GetValue<string>()));
        Assert.All(uploads, u => Assert.False(u!["uploaded"]!.GetValue<bool>()));
        Assert.Equal(1, (await cli.Cluster.GetJsonAsync("/api/jobs?project=cli-tests"))["total"]!.GetValue<int>());
    }

    [Fact]
    public void A_dry_run_before_any_run_plans_steps_and_tokens_and_says_why_it_has_no_cost()
    {
        var answer = Parse(cli.FirstDryRun.StdOut);
        var plan = answer["plan"]!;
        Assert.True(plan["fits"]!.GetValue<bool>());
        Assert.True(plan["peak_bytes"]!.GetValue<long>() > 0);
        var projection = answer["projection"]!;
        Assert.Equal(6, projection["total_steps"]!.GetValue<long>());
        Assert.Equal(plan["steps"]!["total_tokens"]!.GetValue<long>(), projection["total_tokens"]!.GetValue<long>());
        Assert.Equal(0.5, projection["rate_usd_per_hour"]!.GetValue<double>());
        Assert.Equal("cpu", projection["agent_name"]!.GetValue<string>());
        Assert.Null(projection["cost_usd"]);
        Assert.Contains("no earlier lora run of this model on cpu", projection["reason"]!.GetValue<string>());
        Assert.Equal(5.0, projection["budget_cap_usd"]!.GetValue<double>());
    }

    [Fact]
    public async Task A_dry_run_after_a_run_projects_the_cost_from_its_measured_throughput()
    {
        var r = await cli.Ftl.RunAsync(["submit", cli.JobFile, "--dry-run", "--json", "--budget-usd", "5"], cli.Ftl.Environment(), cli.Dir);
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        var projection = Parse(r.StdOut)["projection"]!;
        var lastStep = (await cli.Cluster.GetJsonAsync($"/api/jobs/{cli.JobId}/events?type=step"))["events"]!.AsArray().Last()!["data"]!;
        var tps = lastStep["tokens_per_s"]!.GetValue<double>();
        Assert.Equal(tps, projection["tokens_per_s"]!.GetValue<double>(), 9);
        Assert.Contains(cli.JobId, projection["throughput_basis"]!.GetValue<string>());
        var tokens = projection["total_tokens"]!.GetValue<long>();
        var hours = projection["hours"]!.GetValue<double>();
        Assert.Equal(tokens / tps / 3600, hours, 9);
        Assert.Equal(hours * 0.5, projection["cost_usd"]!.GetValue<double>(), 9);
        Assert.True(projection["within_budget"]!.GetValue<bool>());

        // Without --json the projected cost is what ftl shows.
        var text = await cli.Ftl.RunAsync(["submit", cli.JobFile, "--dry-run"], cli.Ftl.Environment(), cli.Dir);
        Assert.True(text.ExitCode == 0, text.StdErr + text.StdOut);
        Assert.Contains("projected", text.StdOut);
        Assert.Contains(cli.JobId, text.StdOut);
    }

    [Fact]
    public async Task Json_outputs_parse_and_are_the_api_answers()
    {
        async Task<JsonNode> Ftl(params string[] args)
        {
            var r = await cli.Ftl.RunAsync(args);
            Assert.True(r.ExitCode == 0, $"ftl {string.Join(' ', args)}: {r.StdErr}{r.StdOut}");
            return Parse(r.StdOut);
        }
        var jobs = await Ftl("jobs", "--json", "--state", "succeeded");
        Assert.Contains(cli.JobId, jobs["jobs"]!.AsArray().Select(j => j!["id"]!.GetValue<string>()));

        var status = await Ftl("status", cli.JobId, "--json");
        var api = await cli.Cluster.GetJsonAsync($"/api/jobs/{cli.JobId}");
        Assert.Equal(api["adapter_sha256"]!.GetValue<string>(), status["adapter_sha256"]!.GetValue<string>());
        Assert.Equal(api["progress"]!.ToJsonString(), status["progress"]!.ToJsonString());

        var agents = await Ftl("agents", "--json");
        Assert.Equal("cpu", agents.AsArray().Single()!["name"]!.GetValue<string>());

        var costs = await Ftl("costs", "--by", "job", "--json");
        Assert.Equal("job", costs["group_by"]!.GetValue<string>());
        var row = costs["rows"]!.AsArray().Single(r => r!["key"]!.GetValue<string>() == cli.JobId)!;
        Assert.Equal(api["cost"]!["spent_usd"]!.GetValue<double>(), row["spent_usd"]!.GetValue<double>(), 6);

        var logs = await Ftl("logs", cli.JobId, "--json");
        Assert.NotEmpty(logs["logs"]!.AsArray());
        var checkpoints = await Ftl("checkpoints", cli.JobId, "--json");
        var apiCheckpoints = (await cli.Cluster.GetJsonAsync($"/api/jobs/{cli.JobId}/checkpoints")).AsArray();
        Assert.NotEmpty(apiCheckpoints);
        Assert.Equal(apiCheckpoints.ToJsonString(), checkpoints.ToJsonString());
        var events = await Ftl("events", cli.JobId, "--type", "state", "--json");
        Assert.Equal("succeeded", events["events"]!.AsArray().Last()!["data"]!["to"]!.GetValue<string>());
    }

    [Fact]
    public async Task Downloads_are_the_bytes_the_api_serves()
    {
        var outDir = Directory.CreateDirectory(Path.Combine(cli.Dir, "downloads-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        async Task<string> Download(params string[] args)
        {
            var r = await cli.Ftl.RunAsync(["download", .. args, "-o", outDir, "--json"]);
            Assert.True(r.ExitCode == 0, $"ftl download {string.Join(' ', args)}: {r.StdErr}{r.StdOut}");
            var saved = Parse(r.StdOut);
            var path = saved["path"]!.GetValue<string>();
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(path))), saved["sha256"]!.GetValue<string>());
            return path;
        }
        async Task<byte[]> Api(string path) => await cli.Cluster.Http.GetByteArrayAsync(path);

        Assert.Equal(await Api($"/api/jobs/{cli.JobId}/adapter"), await File.ReadAllBytesAsync(await Download("adapter", cli.JobId)));
        Assert.Equal(await Api($"/api/jobs/{cli.JobId}/checkpoints/3"), await File.ReadAllBytesAsync(await Download("checkpoint", cli.JobId, "--step", "3")));
        Assert.Equal(await Api($"/api/jobs/{cli.JobId}/checkpoints/3"), await File.ReadAllBytesAsync(await Download("checkpoint", cli.JobId))); // the latest
        Assert.Equal(await Api($"/api/jobs/{cli.JobId}/metrics?format=csv"), await File.ReadAllBytesAsync(await Download("metrics", cli.JobId)));

        // The package zip is built per request (entry times differ): its entries must be the API's.
        var package = await Download("package", cli.JobId);
        using var ours = ZipFile.OpenRead(package);
        using var theirs = new ZipArchive(new MemoryStream(await Api($"/api/jobs/{cli.JobId}/package")));
        Assert.Equal(theirs.Entries.Select(e => e.FullName).Order(), ours.Entries.Select(e => e.FullName).Order());
        foreach (var entry in theirs.Entries)
            Assert.Equal(Read(entry), Read(ours.GetEntry(entry.FullName)!));

        var missing = await cli.Ftl.RunAsync("download", "checkpoint", cli.JobId, "--step", "5", "-o", outDir);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no checkpoint at step 5 (it has: 3)", missing.StdErr);
        Assert.Equal(Directory.GetFiles(outDir).Length, Directory.GetFiles(outDir).Count(f => !f.Contains(".partial-")));
    }

    private static byte[] Read(ZipArchiveEntry entry)
    {
        using var s = entry.Open();
        using var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    }

    [Fact]
    public async Task A_refused_spec_prints_every_field_error_and_exits_1()
    {
        var spec = (JsonNode.Parse(await File.ReadAllTextAsync(cli.JobFile), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip }) as JsonObject)!;
        spec["lora"]!["r"] = -1;
        spec["optimizer"]!["learning_rat"] = 0.1;
        var bad = Path.Combine(cli.Dir, "jobs", "bad.json");
        await File.WriteAllTextAsync(bad, spec.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        var r = await cli.Ftl.RunAsync(["submit", bad, "--yes", "--budget-usd", "-1"], cli.Ftl.Environment(), cli.Dir);
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}: {r.StdErr}{r.StdOut}");
        Assert.Contains("invalid job (3 problems) (HTTP 400)", r.StdErr);
        Assert.Contains("$.budget.max_usd: must be above 0", r.StdErr);
        Assert.Matches(@"\$\.spec\.lora\.r \(line \d+, column \d+\): ", r.StdErr);
        Assert.Contains("$.spec.optimizer.learning_rat", r.StdErr);
        Assert.True(r.StdErr.Contains("did you mean \"learning_rate\""), r.StdErr);
        Assert.Equal(1, (await cli.Cluster.GetJsonAsync("/api/jobs?project=cli-tests"))["total"]!.GetValue<int>());
    }

    [Fact]
    public async Task Logs_follow_ends_when_the_job_ends_with_every_line()
    {
        Assert.True(cli.LogsFollow.ExitCode == 0, cli.LogsFollow.StdErr + cli.LogsFollow.StdOut);
        var api = (await cli.Cluster.GetJsonAsync($"/api/jobs/{cli.JobId}/logs"))["logs"]!.AsArray();
        var printed = cli.LogsFollow.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(api.Count, printed.Length);
        Assert.EndsWith(api.Last()!["text"]!.GetValue<string>(), printed.Last());
    }

    [Fact]
    public async Task Commands_the_job_state_refuses_exit_1_with_the_api_message()
    {
        var r = await cli.Ftl.RunAsync("pause", cli.JobId);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("cannot pause a job that is succeeded (HTTP 409)", r.StdErr);
        var missing = await cli.Ftl.RunAsync("status", "job_does_not_exist");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("job job_does_not_exist not found (HTTP 404)", missing.StdErr);
    }

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("jobs", "--bogus")]
    [InlineData("download", "adapter")]
    [InlineData("costs", "--by", "week")]
    [InlineData("submit", "does-not-exist.json", "--yes")]
    [InlineData("submit", "JOB")] // asks, but stdin is not a terminal: needs --yes
    public async Task Bad_usage_exits_2(params string[] args)
    {
        if (args is ["submit", "JOB"]) args = ["submit", cli.JobFile];
        var r = await cli.Ftl.RunAsync(args);
        Assert.True(r.ExitCode == 2, $"ftl {string.Join(' ', args)} exited {r.ExitCode}: {r.StdErr}{r.StdOut}");
        Assert.Contains("error:", r.StdErr);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Login_checks_the_key_and_saves_it_for_the_user_alone()
    {
        var home = Path.Combine(cli.Dir, "login-" + Guid.NewGuid().ToString("N")[..8]);
        var env = new FtlProcess(cli.Ftl.Url, null, home).Environment(withConnection: false);
        var config = Path.Combine(home, "ftl", "config.json");

        var none = await cli.Ftl.RunAsync(["jobs"], env, null);
        Assert.Equal(2, none.ExitCode);
        Assert.Contains("ftl login --url URL", none.StdErr);

        var wrong = await cli.Ftl.RunAsync(["login", "--url", cli.Ftl.Url, "--key", "wrong"], env, null);
        Assert.Equal(1, wrong.ExitCode);
        Assert.Contains("missing or wrong API key", wrong.StdErr);
        Assert.False(File.Exists(config));

        var right = await cli.Ftl.RunAsync(["login", "--url", cli.Ftl.Url, "--key", CliCluster.ApiKey], env, null);
        Assert.True(right.ExitCode == 0, right.StdErr);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(config));
        var jobs = await cli.Ftl.RunAsync(["jobs", "--ids"], env, null);
        Assert.True(jobs.ExitCode == 0, jobs.StdErr);
        Assert.Contains(cli.JobId, jobs.StdOut);
        // --key wins over the saved key.
        var overridden = await cli.Ftl.RunAsync(["jobs", "--key", "wrong"], env, null);
        Assert.Equal(1, overridden.ExitCode);
    }
}

[CollectionDefinition(Name)]
public sealed class CliCollection : ICollectionFixture<CliCluster>
{
    public const string Name = "ftl against a real cluster";
}
