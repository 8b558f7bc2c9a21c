using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using FineTuneLab.TestSupport;

namespace FineTuneLab.EndToEnd.Tests.ControlPlane;

/// <summary>
/// A real ftl-coordinator and real ftl-agent processes on loopback (Release builds through scripts/), with a data
/// directory that outlives coordinator restarts. Agents run the trainer given (the fake-trainer.py contract double
/// by default).
/// </summary>
public sealed class ControlPlaneCluster : IAsyncDisposable
{
    public const string JoinToken = "e2e-join-token";
    public static string FakeTrainer => Path.Combine(RepoPaths.Root, "tests", "FineTuneLab.EndToEnd.Tests", "ControlPlane", "fake-trainer.py");

    private readonly List<RunningProcess> _agents = [];
    private RunningProcess? _coordinator;

    public ControlPlaneCluster(string? trainerCommand = null)
    {
        Dir = Directory.CreateTempSubdirectory("ftl-cp-").FullName;
        (HttpPort, GrpcPort) = (FreePort(), FreePort());
        TrainerCommand = trainerCommand ?? FakeTrainer;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{HttpPort}"), Timeout = TimeSpan.FromSeconds(60) };
    }

    public string Dir { get; }
    public int HttpPort { get; }
    public int GrpcPort { get; }
    public string TrainerCommand { get; }
    public HttpClient Http { get; }
    public string CoordinatorDataDir => Path.Combine(Dir, "coordinator");
    public string GrpcUrl => $"http://127.0.0.1:{GrpcPort}";

    /// <summary>
    /// Builds the real trainer now if its wrapper would build it on first use: otherwise the first job's trainer
    /// builds it (minutes on a busy machine) inside the time a test allows the job to run.
    /// </summary>
    public static async Task BuildRealTrainerAsync()
    {
        var r = await ExternalProcess.RunAsync(Path.Combine(RepoPaths.Scripts, "ftl-train"), ["--help"], timeout: TimeSpan.FromMinutes(15));
        r.EnsureSuccess("scripts/ftl-train --help (building the trainer)");
    }

    public async Task StartCoordinatorAsync(IEnumerable<string>? extraArgs = null)
    {
        _coordinator = RunningProcess.Start(Path.Combine(RepoPaths.Scripts, "ftl-coordinator"),
            ["--data-dir", CoordinatorDataDir, "--http-url", $"http://127.0.0.1:{HttpPort}", "--grpc-url", GrpcUrl,
             "--agent-token", JoinToken, "--trainer-command", TrainerCommand, .. extraArgs ?? []], null);
        var until = DateTime.UtcNow.AddMinutes(4); // the wrapper may build first
        while (DateTime.UtcNow < until)
        {
            if (_coordinator.HasExited) throw new InvalidOperationException($"ftl-coordinator exited:\n{_coordinator.Output}");
            try
            {
                if ((await Http.GetAsync("/healthz")).StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(200);
        }
        throw new TimeoutException($"ftl-coordinator not healthy:\n{_coordinator.Output}");
    }

    /// <summary>Stops the coordinator with SIGTERM (graceful) and waits for it.</summary>
    public async Task StopCoordinatorAsync()
    {
        await _coordinator!.TerminateAsync();
        _coordinator = null;
    }

    public async Task<RunningProcess> StartAgentAsync(string name, double pricePerHour = 1.0, string? coordinatorUrl = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var agent = RunningProcess.Start(Path.Combine(RepoPaths.Scripts, "ftl-agent"),
            ["--coordinator", coordinatorUrl ?? GrpcUrl, "--token", JoinToken, "--data-dir", Path.Combine(Dir, name), "--name", name,
             "--price-per-hour", pricePerHour.ToString(System.Globalization.CultureInfo.InvariantCulture), "--device", "cpu",
             "--trainer-command", TrainerCommand], environment);
        _agents.Add(agent);
        await WaitUntilAsync(async () => (await GetJsonAsync("/api/agents")).AsArray().Any(a => a!["name"]!.GetValue<string>() == name && a["state"]!.GetValue<string>() == "online"),
            TimeSpan.FromMinutes(4), () => $"agent {name} did not come online:\n{agent.Output}");
        return agent;
    }

    public async Task<string> UploadAsync(string name, string kind, byte[] bytes)
    {
        var response = await Http.PostAsync($"/api/artifacts?name={name}&kind={kind}", new ByteArrayContent(bytes));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!["sha256"]!.GetValue<string>();
    }

    /// <summary>A tiny dataset and a model folder tar (enough for the fake trainer, which checks the paths exist).</summary>
    public async Task<(string Model, string Data)> UploadSampleInputsAsync()
    {
        var data = await UploadAsync("train.jsonl", "dataset", Encoding.UTF8.GetBytes("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n"));
        var folder = Directory.CreateDirectory(Path.Combine(Dir, "model-src"));
        await File.WriteAllTextAsync(Path.Combine(folder.FullName, "config.json"), "{\"model_type\":\"llama\"}");
        var tar = Path.Combine(Dir, "model.tar");
        if (!File.Exists(tar)) await System.Formats.Tar.TarFile.CreateFromDirectoryAsync(folder.FullName, tar, false);
        var model = await UploadAsync("model.tar", "model", await File.ReadAllBytesAsync(tar));
        return (model, data);
    }

    public async Task<string> SubmitAsync(JsonObject body)
    {
        var response = await Http.PostAsync("/api/jobs", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"submit answered {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!["id"]!.GetValue<string>();
    }

    public static JsonObject Job(string name, string model, string data, int steps, int checkpointEvery, JsonObject? extra = null, JsonObject? resources = null)
    {
        var spec = new JsonObject
        {
            ["name"] = name, ["model"] = new JsonObject { ["path"] = "artifact:" + model }, ["data"] = new JsonObject { ["train"] = "artifact:" + data },
            ["max_steps"] = steps, ["checkpoint"] = new JsonObject { ["every_steps"] = checkpointEvery },
        };
        foreach (var (k, v) in extra ?? []) spec[k] = v?.DeepClone();
        return new JsonObject { ["name"] = name, ["spec"] = spec, ["resources"] = resources ?? new JsonObject { ["device"] = "cpu" } };
    }

    public async Task<JsonNode> GetJsonAsync(string path)
    {
        var text = await Http.GetStringAsync(path);
        return JsonNode.Parse(text)!;
    }

    public async Task<JsonNode> WaitForStateAsync(string jobId, string state, TimeSpan timeout)
    {
        JsonNode? job = null;
        await WaitUntilAsync(async () =>
        {
            job = await GetJsonAsync($"/api/jobs/{jobId}");
            return job["state"]!.GetValue<string>() == state;
        }, timeout, () => $"job {jobId} did not reach {state}: {job?.ToJsonString()}\n{Logs()}");
        return job!;
    }

    public string Logs() =>
        $"--- coordinator ---\n{_coordinator?.Output}\n" + string.Join("\n", _agents.Select((a, i) => $"--- agent {i} ---\n{a.Output}"));

    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> describe)
    {
        var until = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < until)
        {
            try
            {
                if (await condition()) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(200);
        }
        throw new TimeoutException(describe());
    }

    /// <summary>Rows of a query on the coordinator's SQLite store, read with Python's sqlite3 (the test does not link the coordinator).</summary>
    public async Task<JsonArray> QueryStoreAsync(string sql)
    {
        var script = "import json,sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nprint(json.dumps([list(r) for r in c.execute(sys.argv[2])]))";
        var r = await ExternalProcess.RunAsync(ExternalProcess.DebianPython, ["-c", script, Path.Combine(CoordinatorDataDir, "coordinator.db"), sql]);
        r.EnsureSuccess("sqlite query");
        return JsonNode.Parse(r.StdOut)!.AsArray();
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var a in _agents) await a.TerminateAsync();
        if (_coordinator is not null) await _coordinator.TerminateAsync();
        Http.Dispose();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}

/// <summary>A child process whose output is collected for failure messages.</summary>
public sealed class RunningProcess
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private RunningProcess(Process process) => _process = process;

    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
    public int Id => _process.Id;
    public string Output { get { lock (_output) return _output.ToString(); } }

    public static RunningProcess Start(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = RepoPaths.Root };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["FAKE_STEP_SECONDS"] = "0.1";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        var p = new RunningProcess(Process.Start(psi)!);
        p._process.OutputDataReceived += (_, e) => { lock (p._output) p._output.AppendLine(e.Data); };
        p._process.ErrorDataReceived += (_, e) => { lock (p._output) p._output.AppendLine(e.Data); };
        p._process.BeginOutputReadLine();
        p._process.BeginErrorReadLine();
        return p;
    }

    /// <summary>SIGTERM, then SIGKILL after 20 s.</summary>
    public async Task TerminateAsync()
    {
        if (_process.HasExited) return;
        (await ExternalProcess.RunAsync("/bin/kill", ["-TERM", _process.Id.ToString()])).EnsureSuccess("kill -TERM");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try { await _process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); }
    }
}
