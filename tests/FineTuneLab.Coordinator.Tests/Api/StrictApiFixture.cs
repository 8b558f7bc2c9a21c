using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Jobs;
using Serilog.Core;
using Serilog.Events;

namespace FineTuneLab.Coordinator.Tests.Api;

/// <summary>
/// A coordinator in this process (HTTP on loopback, its own store) with an API key and a tiny upload limit
/// (<see cref="MaxUploadBytes"/>), holding one queued job, and the warnings it logged.
/// </summary>
public sealed class StrictApiFixture : IAsyncLifetime
{
    public const string ApiKey = "s3cret-key";
    /// <summary>The spec field the stand-in validator refuses (as <c>$.spec.lora.r</c> in an answer).</summary>
    public const string SpecProblemPath = "$.lora.r";
    private readonly string _dir = Directory.CreateTempSubdirectory("ftl-strict-api-").FullName;
    private CoordinatorHost? _host;

    public CoordinatorHost Host => _host!;
    public CoordinatorRuntime Runtime => _host!.Runtime!;
    public HttpClient Http { get; } = new();
    public string DataDir => _dir;
    public string JobId { get; private set; } = "";
    public long MaxUploadBytes => Host.Options.MaxUploadBytes;

    public async Task InitializeAsync()
    {
        var (httpPort, grpcPort) = (FreePort(), FreePort());
        // A stand-in for ftl-train that refuses every spec with one field problem, worded as ftl-train validate words it.
        var validator = Path.Combine(_dir, "refusing-validator.sh");
        await File.WriteAllTextAsync(validator, $"#!/bin/sh\necho \"$3: line 2, column 3: {SpecProblemPath}: must be at least 1\"\nexit 1\n");
        // 1e-6 GiB: 1073 bytes, so that a small upload crosses it.
        var options = new CoordinatorOptions(_dir, new Uri($"http://127.0.0.1:{httpPort}"), new Uri($"http://127.0.0.1:{grpcPort}"), ApiKey: ApiKey,
            TrainerCommand: "sh " + validator) { MaxUploadGb = 1e-6 };
        _host = CoordinatorHost.Create(options, Logger.None);
        await _host.StartAsync();
        Http.BaseAddress = new Uri($"http://127.0.0.1:{httpPort}");
        Http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ApiKey);
        JobId = Runtime.Jobs.Create(new JobSubmission("queued", "", 0, "{}", "{}", null, null, 0, null));
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        if (_host is not null) await _host.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>POSTs <paramref name="json"/> and answers the status with the problem body (or the body as text when it is not JSON).</summary>
    public async Task<(HttpStatusCode Status, JsonObject Body)> PostJsonAsync(string path, string json)
    {
        using var response = await Http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        return (response.StatusCode, await BodyOf(response));
    }

    public async Task<(HttpStatusCode Status, JsonObject Body)> GetAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        return (response.StatusCode, await BodyOf(response));
    }

    public static async Task<JsonObject> BodyOf(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        try { return JsonNode.Parse(text) as JsonObject ?? new JsonObject { ["text"] = text }; }
        catch (System.Text.Json.JsonException) { return new JsonObject { ["text"] = text }; }
    }

    /// <summary>The problem's <c>details</c> as "path: message" lines.</summary>
    public static List<string> Details(JsonObject problem) =>
        problem["details"]?.AsArray().Select(d => $"{d!["path"]}: {d["message"]}").ToList() ?? [];

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}

/// <summary>A Serilog sink that keeps what was logged, for asserting on a host's startup messages.</summary>
public sealed class CapturedLog : ILogEventSink
{
    private readonly List<LogEvent> _events = [];

    public void Emit(LogEvent logEvent)
    {
        lock (_events) _events.Add(logEvent);
    }

    public List<(LogEventLevel Level, string Text)> Messages()
    {
        lock (_events) return _events.Select(e => (e.Level, e.RenderMessage())).ToList();
    }
}
