namespace FineTuneLab.Coordinator;

/// <summary>How the coordinator was asked to run (command line, else FTL_* environment variables).</summary>
public sealed record CoordinatorOptions(
    string DataDir,
    Uri HttpUrl,
    Uri GrpcUrl,
    string? ApiKey = null,
    string? AgentToken = null,
    string? TlsCertificatePath = null,
    string? TlsKeyPath = null,
    TimeSpan? HeartbeatTimeout = null,
    string? TrainerCommand = null,
    int? MaxRestarts = null,
    string? AnomalyPolicy = null,
    string? FailureRulesFile = null)
{
    /// <summary>How many times a job is re-queued after losing its agent before it fails (restarts are shown per job).</summary>
    public int RestartCap => MaxRestarts ?? 3;

    /// <summary>How long an agent may stay silent before it is lost and its job re-queued.</summary>
    public TimeSpan AgentTimeout => HeartbeatTimeout ?? TimeSpan.FromSeconds(15);

    /// <summary>The SQLite database inside the data directory.</summary>
    public string DatabasePath => Path.Combine(DataDir, "coordinator.db");
}
