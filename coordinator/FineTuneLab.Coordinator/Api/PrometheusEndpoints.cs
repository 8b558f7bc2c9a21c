using System.Globalization;
using System.Text;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary><c>GET /metrics</c>: Prometheus text format (jobs by state, agents by state, stored telemetry, per-job spend, spend by project).</summary>
public static class PrometheusEndpoints
{
    public static void MapPrometheus(this IEndpointRouteBuilder endpoints, Func<CoordinatorRuntime?> runtime)
    {
        endpoints.MapGet("/metrics", With(runtime, async (http, rt) =>
        {
            var text = new StringBuilder();
            using var c = rt.Store.OpenConnection();
            text.Append("# HELP ftl_jobs Jobs by state.\n# TYPE ftl_jobs gauge\n");
            var byState = Sql.Query(c, "SELECT state, COUNT(*) FROM jobs GROUP BY state", r => (r.GetString(0), r.GetInt64(1))).ToDictionary();
            foreach (var s in JobStates.All) text.Append(CultureInfo.InvariantCulture, $"ftl_jobs{{state=\"{s}\"}} {byState.GetValueOrDefault(s)}\n");
            text.Append("# HELP ftl_agents Agents by state.\n# TYPE ftl_agents gauge\n");
            foreach (var (s, n) in Sql.Query(c, "SELECT state, COUNT(*) FROM agents GROUP BY state", r => (r.GetString(0), r.GetInt64(1))))
                text.Append(CultureInfo.InvariantCulture, $"ftl_agents{{state=\"{s}\"}} {n}\n");
            text.Append("# HELP ftl_agents_connected Agents with an open session.\n# TYPE ftl_agents_connected gauge\n");
            text.Append(CultureInfo.InvariantCulture, $"ftl_agents_connected {rt.Sessions.Connected.Count}\n");
            text.Append("# HELP ftl_telemetry_points Telemetry points stored.\n# TYPE ftl_telemetry_points gauge\n");
            text.Append(CultureInfo.InvariantCulture, $"ftl_telemetry_points {Sql.Scalar(c, "SELECT COUNT(*) FROM telemetry")}\n");
            text.Append("# HELP ftl_job_spent_usd Spend of active jobs.\n# TYPE ftl_job_spent_usd gauge\n");
            foreach (var j in rt.Jobs.InState(JobStates.Assigned, JobStates.Running, JobStates.Paused, JobStates.Stopping))
                text.Append(CultureInfo.InvariantCulture, $"ftl_job_spent_usd{{job=\"{j.Id}\"}} {JobProjection.Spend(j).SpentUsd.ToString("R", CultureInfo.InvariantCulture)}\n");
            text.Append("# HELP ftl_spent_usd_total Spend booked in the cost ledger, by project.\n# TYPE ftl_spent_usd_total counter\n");
            foreach (var (project, usd) in Sql.Query(c, "SELECT project, SUM(usd) FROM cost_ledger GROUP BY project ORDER BY project", r => (r.GetString(0), r.GetDouble(1))))
                text.Append(CultureInfo.InvariantCulture, $"ftl_spent_usd_total{{project=\"{Label(project)}\"}} {usd.ToString("R", CultureInfo.InvariantCulture)}\n");
            http.Response.ContentType = "text/plain; version=0.0.4";
            await http.Response.WriteAsync(text.ToString());
        }));
    }

    /// <summary>A label value in the text format: backslash, double quote and line feed escaped.</summary>
    private static string Label(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
}
