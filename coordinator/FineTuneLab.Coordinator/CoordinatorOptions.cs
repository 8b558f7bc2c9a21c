namespace FineTuneLab.Coordinator;

/// <summary>How the coordinator was asked to run (command line, else FTL_* environment variables).</summary>
public sealed record CoordinatorOptions(
    string DataDir,
    Uri HttpUrl,
    Uri GrpcUrl,
    string? ApiKey = null,
    string? AgentToken = null,
    string? TlsCertificatePath = null,
    string? TlsKeyPath = null)
{
    /// <summary>The SQLite database inside the data directory.</summary>
    public string DatabasePath => Path.Combine(DataDir, "coordinator.db");
}
