using System.CommandLine;
using System.Globalization;

namespace FineTuneLab.Coordinator.Hosting;

/// <summary>
/// The coordinator's command-line flags and the FTL_* environment variables behind them, as configuration keys of
/// <see cref="CoordinatorOptions"/> (a flag wins over its variable). Values are checked for form here, naming the
/// flag; what they mean together is checked by <see cref="CoordinatorOptionsValidator"/> when the host starts.
/// </summary>
public static class CommandLineSettings
{
    /// <summary>Each flag: its option, environment variable and <see cref="CoordinatorOptions"/> property.</summary>
    public static readonly (Option<string> Option, string Env, string Key)[] Flags =
    [
        (Flag("--data-dir", "Folder for the SQLite store and blobs (env FTL_DATA_DIR)"), "FTL_DATA_DIR", nameof(CoordinatorOptions.DataDir)),
        (Flag("--http-url", "REST/dashboard endpoint, e.g. http://127.0.0.1:8080 (env FTL_HTTP_URL)"), "FTL_HTTP_URL", nameof(CoordinatorOptions.HttpUrl)),
        (Flag("--grpc-url", "gRPC endpoint for agents, e.g. http://127.0.0.1:8081 (env FTL_GRPC_URL)"), "FTL_GRPC_URL", nameof(CoordinatorOptions.GrpcUrl)),
        (Flag("--api-key", "Key REST clients must present (env FTL_API_KEY)"), "FTL_API_KEY", nameof(CoordinatorOptions.ApiKey)),
        (Flag("--agent-token", "Join token agents register with (env FTL_AGENT_TOKEN)"), "FTL_AGENT_TOKEN", nameof(CoordinatorOptions.AgentToken)),
        (Flag("--tls-cert", "Certificate (PEM with --tls-key, or PFX) for https URLs (env FTL_TLS_CERT)"), "FTL_TLS_CERT", nameof(CoordinatorOptions.TlsCertificatePath)),
        (Flag("--tls-key", "PEM private key of --tls-cert (env FTL_TLS_KEY)"), "FTL_TLS_KEY", nameof(CoordinatorOptions.TlsKeyPath)),
        (Flag("--heartbeat-timeout", "Seconds without a heartbeat before an agent is lost and its job re-queued, default 15 (env FTL_HEARTBEAT_TIMEOUT)"),
            "FTL_HEARTBEAT_TIMEOUT", nameof(CoordinatorOptions.HeartbeatTimeoutSeconds)),
        (Flag("--trainer-command", "How to run ftl-train for spec validation, default: the built ftl-train (env FTL_TRAINER_COMMAND)"),
            "FTL_TRAINER_COMMAND", nameof(CoordinatorOptions.TrainerCommand)),
        (Flag("--max-restarts", "Times a job is re-queued after losing its agent before it fails, default 3 (env FTL_MAX_RESTARTS)"),
            "FTL_MAX_RESTARTS", nameof(CoordinatorOptions.MaxRestarts)),
        (Flag("--anomaly-policy", "Default action per anomaly kind, e.g. nan_loss=pause,gpu_memory_near_limit=warn; actions warn, pause, stop, fail (env FTL_ANOMALY_POLICY)"),
            "FTL_ANOMALY_POLICY", nameof(CoordinatorOptions.AnomalyPolicy)),
        (Flag("--failure-rules", "JSON file of failure rules (pattern, exit codes or signals → class and retry/fail) read before the built-in table (env FTL_FAILURE_RULES)"),
            "FTL_FAILURE_RULES", nameof(CoordinatorOptions.FailureRulesFile)),
        (Flag("--max-upload-gb", "Largest artifact upload (POST /api/artifacts), GiB, default 200 (env FTL_MAX_UPLOAD_GB)"),
            "FTL_MAX_UPLOAD_GB", nameof(CoordinatorOptions.MaxUploadGb)),
    ];

    /// <summary>Flags that must be given (or their variables set).</summary>
    public static readonly string[] Required = ["--data-dir", "--http-url", "--grpc-url"];

    /// <summary>
    /// The configuration keys (<c>Coordinator:DataDir</c>, …) of what was given; the names of required flags that were
    /// not, in <paramref name="missing"/>. Throws <see cref="ArgumentException"/> naming the flag for a value of the wrong form.
    /// </summary>
    public static Dictionary<string, string?> Read(ParseResult parsed, out List<string> missing)
    {
        var settings = new Dictionary<string, string?>();
        missing = [];
        foreach (var (option, env, key) in Flags)
        {
            var value = parsed.GetValue(option) ?? Environment.GetEnvironmentVariable(env);
            if (value is null)
            {
                if (Required.Contains(option.Name)) missing.Add($"{option.Name} (or {env})");
                continue;
            }
            settings[$"{CoordinatorOptions.Section}:{key}"] = Normalize(option.Name, value);
        }
        return settings;
    }

    private static string Normalize(string flag, string value) => flag switch
    {
        "--data-dir" or "--failure-rules" => Path.GetFullPath(value),
        "--http-url" or "--grpc-url" => Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? value : throw new ArgumentException($"{flag} '{value}' is not an http:// or https:// URL"),
        "--heartbeat-timeout" => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0
            ? s.ToString("R", CultureInfo.InvariantCulture) : throw new ArgumentException($"{flag} '{value}' is not a positive number of seconds"),
        "--max-upload-gb" => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var gb) && gb > 0 && double.IsFinite(gb)
            ? gb.ToString("R", CultureInfo.InvariantCulture) : throw new ArgumentException($"{flag} '{value}' is not a positive number of GiB"),
        "--max-restarts" => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n.ToString(CultureInfo.InvariantCulture) : throw new ArgumentException($"{flag} '{value}' is not a non-negative whole number"),
        _ => value,
    };

    private static Option<string> Flag(string name, string description) => new(name) { Description = description };
}
