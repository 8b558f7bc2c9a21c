using System.Globalization;
using Microsoft.Extensions.Options;

namespace FineTuneLab.Coordinator;

/// <summary>
/// How the coordinator was asked to run: bound (<see cref="IOptions{TOptions}"/>) from the configuration section
/// <see cref="Section"/>, which the command line (<c>--data-dir</c>, …) and the FTL_* environment variables fill
/// (<see cref="Hosting.CommandLineSettings"/>). The property names are the configuration keys.
/// </summary>
public sealed class CoordinatorOptions
{
    public const string Section = "Coordinator";

    public CoordinatorOptions() { }

    public CoordinatorOptions(string dataDir, Uri httpUrl, Uri grpcUrl, string? ApiKey = null, string? AgentToken = null,
        string? TlsCertificatePath = null, string? TlsKeyPath = null, double? HeartbeatTimeoutSeconds = null, string? TrainerCommand = null,
        int? MaxRestarts = null, string? AnomalyPolicy = null, string? FailureRulesFile = null)
    {
        (DataDir, HttpUrl, GrpcUrl, this.ApiKey, this.AgentToken, this.TlsCertificatePath, this.TlsKeyPath) =
            (dataDir, httpUrl, grpcUrl, ApiKey, AgentToken, TlsCertificatePath, TlsKeyPath);
        (this.HeartbeatTimeoutSeconds, this.TrainerCommand, this.MaxRestarts, this.AnomalyPolicy, this.FailureRulesFile) =
            (HeartbeatTimeoutSeconds, TrainerCommand, MaxRestarts, AnomalyPolicy, FailureRulesFile);
    }

    /// <summary><c>--data-dir</c>: the SQLite store and the blobs.</summary>
    public string DataDir { get; set; } = "";
    /// <summary><c>--http-url</c>: REST, dashboard, <c>/healthz</c>.</summary>
    public Uri? HttpUrl { get; set; }
    /// <summary><c>--grpc-url</c>: the agent gateway.</summary>
    public Uri? GrpcUrl { get; set; }
    public string? ApiKey { get; set; }
    public string? AgentToken { get; set; }
    public string? TlsCertificatePath { get; set; }
    public string? TlsKeyPath { get; set; }
    /// <summary><c>--heartbeat-timeout</c>, seconds.</summary>
    public double? HeartbeatTimeoutSeconds { get; set; }
    public string? TrainerCommand { get; set; }
    public int? MaxRestarts { get; set; }
    /// <summary><c>--anomaly-policy</c>: kind=action pairs (<see cref="Anomalies.AnomalyPolicy.ParseOption"/>).</summary>
    public string? AnomalyPolicy { get; set; }
    public string? FailureRulesFile { get; set; }
    /// <summary><c>--max-upload-gb</c>: the largest <c>POST /api/artifacts</c> body, GiB (default 200).</summary>
    public double? MaxUploadGb { get; set; }

    /// <summary>The largest artifact upload in bytes.</summary>
    public long MaxUploadBytes => (long)Math.Min((MaxUploadGb ?? 200) * (1L << 30), long.MaxValue / 2);

    /// <summary>How many times a job is re-queued after losing its agent before it fails (restarts are shown per job).</summary>
    public int RestartCap => MaxRestarts ?? 3;

    /// <summary>How long an agent may stay silent before it is lost and its job re-queued.</summary>
    public TimeSpan AgentTimeout => TimeSpan.FromSeconds(HeartbeatTimeoutSeconds ?? 15);

    /// <summary>The SQLite database inside the data directory.</summary>
    public string DatabasePath => Path.Combine(DataDir, "coordinator.db");

    /// <summary>The options as configuration keys (<c>Coordinator:DataDir</c>, …), for a host built from an instance.</summary>
    public Dictionary<string, string?> ToSettings() => new()
    {
        [$"{Section}:{nameof(DataDir)}"] = DataDir, [$"{Section}:{nameof(HttpUrl)}"] = HttpUrl?.ToString(),
        [$"{Section}:{nameof(GrpcUrl)}"] = GrpcUrl?.ToString(), [$"{Section}:{nameof(ApiKey)}"] = ApiKey,
        [$"{Section}:{nameof(AgentToken)}"] = AgentToken, [$"{Section}:{nameof(TlsCertificatePath)}"] = TlsCertificatePath,
        [$"{Section}:{nameof(TlsKeyPath)}"] = TlsKeyPath,
        [$"{Section}:{nameof(HeartbeatTimeoutSeconds)}"] = HeartbeatTimeoutSeconds?.ToString("R", CultureInfo.InvariantCulture),
        [$"{Section}:{nameof(TrainerCommand)}"] = TrainerCommand,
        [$"{Section}:{nameof(MaxRestarts)}"] = MaxRestarts?.ToString(CultureInfo.InvariantCulture),
        [$"{Section}:{nameof(AnomalyPolicy)}"] = AnomalyPolicy, [$"{Section}:{nameof(FailureRulesFile)}"] = FailureRulesFile,
        [$"{Section}:{nameof(MaxUploadGb)}"] = MaxUploadGb?.ToString("R", CultureInfo.InvariantCulture),
    };
}

/// <summary>Refuses options the coordinator cannot run with, naming the command-line flag (checked when the host starts).</summary>
public sealed class CoordinatorOptionsValidator : IValidateOptions<CoordinatorOptions>
{
    public ValidateOptionsResult Validate(string? name, CoordinatorOptions o)
    {
        var problems = new List<string>();
        if (string.IsNullOrEmpty(o.DataDir)) problems.Add("--data-dir is required");
        foreach (var (url, flag) in new[] { (o.HttpUrl, "--http-url"), (o.GrpcUrl, "--grpc-url") })
        {
            if (url is null) problems.Add($"{flag} is required");
            else if (!url.IsAbsoluteUri || url.Scheme is not ("http" or "https")) problems.Add($"{flag} '{url}' is not an http:// or https:// URL");
        }
        if (o.HttpUrl is { IsAbsoluteUri: true, Scheme: "https" } && o.TlsCertificatePath is null)
            problems.Add($"--http-url '{o.HttpUrl}' is https but no --tls-cert is configured");
        if (o.MaxRestarts is < 0) problems.Add($"--max-restarts '{o.MaxRestarts}' is not a non-negative whole number");
        if (o.HeartbeatTimeoutSeconds is { } hb && !(hb > 0 && double.IsFinite(hb))) problems.Add($"--heartbeat-timeout '{hb}' is not a positive number of seconds");
        if (o.MaxUploadGb is { } gb && !(gb > 0 && double.IsFinite(gb))) problems.Add($"--max-upload-gb '{gb}' is not a positive number of GiB");
        if (o.AnomalyPolicy is { } policy)
        {
            try { Anomalies.AnomalyPolicy.ParseOption(policy, "--anomaly-policy"); }
            catch (ArgumentException e) { problems.Add(e.Message); }
        }
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
