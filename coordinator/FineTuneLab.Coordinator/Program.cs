using System.CommandLine;
using FineTuneLab.Coordinator;
using Serilog;

// ftl-coordinator: the REST API + gRPC endpoint for agents. Every option may also come from an FTL_* environment variable.
var dataDir = new Option<string>("--data-dir") { Description = "Folder for the SQLite store and blobs (env FTL_DATA_DIR)" };
var httpUrl = new Option<string>("--http-url") { Description = "REST/dashboard endpoint, e.g. http://127.0.0.1:8080 (env FTL_HTTP_URL)" };
var grpcUrl = new Option<string>("--grpc-url") { Description = "gRPC endpoint for agents, e.g. http://127.0.0.1:8081 (env FTL_GRPC_URL)" };
var apiKey = new Option<string>("--api-key") { Description = "Key REST clients must present (env FTL_API_KEY)" };
var agentToken = new Option<string>("--agent-token") { Description = "Join token agents register with (env FTL_AGENT_TOKEN)" };
var tlsCert = new Option<string>("--tls-cert") { Description = "Certificate (PEM with --tls-key, or PFX) for https URLs (env FTL_TLS_CERT)" };
var tlsKey = new Option<string>("--tls-key") { Description = "PEM private key of --tls-cert (env FTL_TLS_KEY)" };
var heartbeatTimeout = new Option<string>("--heartbeat-timeout") { Description = "Seconds without a heartbeat before an agent is lost and its job re-queued, default 15 (env FTL_HEARTBEAT_TIMEOUT)" };
var maxRestarts = new Option<string>("--max-restarts") { Description = "Times a job is re-queued after losing its agent before it fails, default 3 (env FTL_MAX_RESTARTS)" };
var anomalyPolicy = new Option<string>("--anomaly-policy") { Description = "Default action per anomaly kind, e.g. nan_loss=pause,gpu_memory_near_limit=warn; actions warn, pause, stop, fail (env FTL_ANOMALY_POLICY)" };
var failureRules = new Option<string>("--failure-rules") { Description = "JSON file of failure rules (pattern, exit codes or signals → class and retry/fail) read before the built-in table (env FTL_FAILURE_RULES)" };
var trainerCommand = new Option<string>("--trainer-command") { Description = "How to run ftl-train for spec validation, default: the built ftl-train (env FTL_TRAINER_COMMAND)" };

var root = new RootCommand("FineTuneLab coordinator: REST API, dashboard and the gRPC endpoint agents connect to")
{
    dataDir, httpUrl, grpcUrl, apiKey, agentToken, tlsCert, tlsKey, heartbeatTimeout, trainerCommand, maxRestarts, anomalyPolicy, failureRules,
};

root.SetAction(async parseResult =>
{
    string? Get(Option<string> option, string env) => parseResult.GetValue(option) ?? Environment.GetEnvironmentVariable(env);

    Log.Logger = new LoggerConfiguration()
        .MinimumLevel.Information()
        .MinimumLevel.Override("Microsoft.AspNetCore", Serilog.Events.LogEventLevel.Warning)
        .WriteTo.Console(outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {SourceContext}: {Message:lj}{NewLine}{Exception}")
        .CreateLogger();
    var log = Log.ForContext("SourceContext", "ftl-coordinator");
    try
    {
        var missing = new[] { (dataDir, "FTL_DATA_DIR"), (httpUrl, "FTL_HTTP_URL"), (grpcUrl, "FTL_GRPC_URL") }
            .Where(o => Get(o.Item1, o.Item2) is null)
            .Select(o => $"{o.Item1.Name} (or {o.Item2})").ToList();
        if (missing.Count > 0)
        {
            log.Fatal("missing required option(s): {Missing}", string.Join(", ", missing));
            return 2;
        }

        var options = new CoordinatorOptions(
            Path.GetFullPath(Get(dataDir, "FTL_DATA_DIR")!),
            ParseUrl(Get(httpUrl, "FTL_HTTP_URL")!, "--http-url"),
            ParseUrl(Get(grpcUrl, "FTL_GRPC_URL")!, "--grpc-url"),
            Get(apiKey, "FTL_API_KEY"),
            Get(agentToken, "FTL_AGENT_TOKEN"),
            Get(tlsCert, "FTL_TLS_CERT"),
            Get(tlsKey, "FTL_TLS_KEY"),
            Get(heartbeatTimeout, "FTL_HEARTBEAT_TIMEOUT") is { } hb ? TimeSpan.FromSeconds(double.Parse(hb, System.Globalization.CultureInfo.InvariantCulture)) : null,
            Get(trainerCommand, "FTL_TRAINER_COMMAND"),
            Get(maxRestarts, "FTL_MAX_RESTARTS") is { } mr ? (int.TryParse(mr, System.Globalization.CultureInfo.InvariantCulture, out var m) && m >= 0 ? m
                : throw new ArgumentException($"--max-restarts '{mr}' is not a non-negative whole number")) : null,
            Get(anomalyPolicy, "FTL_ANOMALY_POLICY") is { } ap ? FineTuneLab.Coordinator.Anomalies.AnomalyPolicy.ParseOption(ap, "--anomaly-policy").ToOptionText() : null,
            Get(failureRules, "FTL_FAILURE_RULES") is { } fr ? Path.GetFullPath(fr) : null);

        await using var host = CoordinatorHost.Create(options, Log.Logger);
        await host.StartAsync();
        // Ctrl-C and SIGTERM stop the host gracefully (health turns NOT_SERVING first); that is a clean exit.
        await host.WaitForShutdownAsync();
        log.Information("stopped");
        return 0;
    }
    catch (Exception e)
    {
        log.Fatal(e, "failed: {Message}", e.Message);
        return 1;
    }
    finally
    {
        await Log.CloseAndFlushAsync();
    }
});

// The host handles SIGINT/SIGTERM itself (graceful shutdown); System.CommandLine must not race it.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });

static Uri ParseUrl(string text, string option) =>
    Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
        ? uri
        : throw new ArgumentException($"{option} '{text}' is not an http:// or https:// URL");
