namespace FineTuneLab.Coordinator.Store;

/// <summary>The store's totals that <c>/metrics</c> exports: jobs and agents by state, telemetry points, spend by project.</summary>
public static class StoreCounts
{
    public sealed record Totals(Dictionary<string, long> JobsByState, List<(string State, long Count)> AgentsByState, long TelemetryPoints,
        List<(string Project, double Usd)> SpendByProject);

    public static Totals Read(CoordinatorStore store)
    {
        using var c = store.OpenConnection();
        return new Totals(
            Sql.Query(c, "SELECT state, COUNT(*) FROM jobs GROUP BY state", r => (r.GetString(0), r.GetInt64(1))).ToDictionary(),
            Sql.Query(c, "SELECT state, COUNT(*) FROM agents GROUP BY state", r => (r.GetString(0), r.GetInt64(1))),
            Convert.ToInt64(Sql.Scalar(c, "SELECT COUNT(*) FROM telemetry") ?? 0L),
            Sql.Query(c, "SELECT project, SUM(usd) FROM cost_ledger GROUP BY project ORDER BY project", r => (r.GetString(0), r.GetDouble(1))));
    }
}
