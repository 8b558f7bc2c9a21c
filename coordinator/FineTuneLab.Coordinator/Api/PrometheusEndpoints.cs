using System.Globalization;
using System.Text;
using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;

namespace FineTuneLab.Coordinator.Api;

/// <summary><c>GET /metrics</c>: Prometheus text format (jobs by state, agents by state, refused agent items, stored telemetry, per-job spend, spend by project).</summary>
public static class PrometheusEndpoints
{
    public static void MapPrometheus(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapGet("/metrics", (CoordinatorStore store, JobStore jobs, AgentSessions sessions, AgentRefusals refusals) =>
                TypedResults.Text(Render(StoreCounts.Read(store), jobs, sessions, refusals), "text/plain; version=0.0.4"))
            .WithSummary("Prometheus metrics").WithTags("metrics");

    private static string Render(StoreCounts.Totals totals, JobStore jobs, AgentSessions sessions, AgentRefusals refusals)
    {
        var text = new StringBuilder();
        text.Append("# HELP ftl_jobs Jobs by state.\n# TYPE ftl_jobs gauge\n");
        foreach (var s in JobStates.All) text.Append(CultureInfo.InvariantCulture, $"ftl_jobs{{state=\"{s}\"}} {totals.JobsByState.GetValueOrDefault(s)}\n");
        text.Append("# HELP ftl_agents Agents by state.\n# TYPE ftl_agents gauge\n");
        foreach (var (s, n) in totals.AgentsByState) text.Append(CultureInfo.InvariantCulture, $"ftl_agents{{state=\"{s}\"}} {n}\n");
        text.Append("# HELP ftl_agents_connected Agents with an open session.\n# TYPE ftl_agents_connected gauge\n");
        text.Append(CultureInfo.InvariantCulture, $"ftl_agents_connected {sessions.Connected.Count}\n");
        text.Append("# HELP ftl_agent_refused_total Items and uploads refused because the agent does not hold the job.\n# TYPE ftl_agent_refused_total counter\n");
        foreach (var (agent, kind, n) in refusals.Counts())
            text.Append(CultureInfo.InvariantCulture, $"ftl_agent_refused_total{{agent=\"{Label(agent)}\",kind=\"{kind}\"}} {n}\n");
        text.Append("# HELP ftl_telemetry_points Telemetry points stored.\n# TYPE ftl_telemetry_points gauge\n");
        text.Append(CultureInfo.InvariantCulture, $"ftl_telemetry_points {totals.TelemetryPoints}\n");
        text.Append("# HELP ftl_job_spent_usd Spend of active jobs.\n# TYPE ftl_job_spent_usd gauge\n");
        foreach (var j in jobs.InState(JobStates.Assigned, JobStates.Running, JobStates.Paused, JobStates.Stopping))
            text.Append(CultureInfo.InvariantCulture, $"ftl_job_spent_usd{{job=\"{j.Id}\"}} {JobProjection.Spend(j).SpentUsd.ToString("R", CultureInfo.InvariantCulture)}\n");
        text.Append("# HELP ftl_spent_usd_total Spend booked in the cost ledger, by project.\n# TYPE ftl_spent_usd_total counter\n");
        foreach (var (project, usd) in totals.SpendByProject)
            text.Append(CultureInfo.InvariantCulture, $"ftl_spent_usd_total{{project=\"{Label(project)}\"}} {usd.ToString("R", CultureInfo.InvariantCulture)}\n");
        return text.ToString();
    }

    /// <summary>A label value in the text format: backslash, double quote and line feed escaped.</summary>
    private static string Label(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
}
