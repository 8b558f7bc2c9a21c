using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary>An entry of the job's log: its feed position, type, time and the event's documented JSON.</summary>
public sealed record EventView(long Id, string Type, string At, JsonNode? Data)
{
    public static EventView Of(JobLogEntry e) => new(e.Id, e.Type, e.At, JsonNode.Parse(e.Json));
}

public sealed record EventList(IReadOnlyList<EventView> Events);

public sealed record MetricList(IReadOnlyList<MetricRow> Rows);

/// <summary>A job's events and per-step metrics (JSON, CSV, or one series as TensorBoard's CSV).</summary>
public static class JobFeedsEndpoints
{
    public static void MapJobFeeds(this RouteGroupBuilder jobs)
    {
        jobs.MapGet("/{id}/events", Events)
            .WithSummary("Trainer events and coordinator events: state, assigned, requeued, state_report, budget_alert, anomaly (after_seq, type)")
            .Query("after_seq", "Only events after this feed position (an event's id)")
            .Query("type", "Only events of this type");
        jobs.MapGet("/{id}/metrics", Metrics)
            .WithSummary("One row per step (format=json|csv; shape=tensorboard&series=loss for TensorBoard's CSV)")
            .Produces<MetricList>(StatusCodes.Status200OK, "application/json", "text/csv")
            .Query("format", "json (default) or csv", "json", "csv")
            .Query("shape", "tensorboard: one series as TensorBoard's Wall time,Step,Value CSV (needs series)", "tensorboard")
            .Query("series", "The column to export with shape=tensorboard, e.g. loss, eval_loss, lr");
    }

    private static Results<Ok<EventList>, ProblemHttpResult> Events(string id, [FromQuery(Name = "after_seq")] long? afterSeq, string? type,
        CoordinatorRuntime rt)
    {
        if (rt.Jobs.Get(id) is not { } job) return NotFound($"job {id} not found");
        if (QueryChecks.First(QueryChecks.Range("after_seq", afterSeq, 0, long.MaxValue), QueryChecks.Text("type", type)) is { } problem)
            return BadRequest(problem);
        var events = JobEvents.Read(rt.Store, job.Id, afterSeq ?? 0, type, log: rt.Log);
        return TypedResults.Ok(new EventList(events.Select(EventView.Of).ToList()));
    }

    private static Results<Ok<MetricList>, FileContentHttpResult, ProblemHttpResult> Metrics(string id, string? format, string? shape, string? series,
        CoordinatorRuntime rt)
    {
        if (rt.Jobs.Get(id) is not { } job) return NotFound($"job {id} not found");
        if (QueryChecks.First(QueryChecks.OneOf("format", format, ["json", "csv"]), QueryChecks.OneOf("shape", shape, ["tensorboard"])) is { } problem)
            return BadRequest(problem);
        var rows = MetricRows(rt, job);
        if (shape is not null)
        {
            if (series is null || series == "step" || !MetricRow.Columns.Contains(series))
                return BadRequest($"shape=tensorboard needs series, one of {string.Join(", ", MetricRow.Columns.Skip(1))}");
            // TensorBoard's CSV export: wall time in seconds since the epoch, the step, the value; steps without the series are left out.
            var board = new StringBuilder("Wall time,Step,Value\n");
            foreach (var r in rows)
            {
                if (r.Value(series) is not { } value) continue;
                var wall = DateTimeOffset.Parse(r.At, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds() / 1000.0;
                board.Append(CultureInfo.InvariantCulture, $"{Csv(wall)},{r.Step},{Csv(value)}\n");
            }
            return CostsEndpoints.Csv(board, $"{job.Id}-{series}.csv");
        }
        if (format == "csv")
        {
            var csv = new StringBuilder(string.Join(",", MetricRow.Columns)).Append('\n');
            foreach (var r in rows)
                csv.Append(string.Join(",", MetricRow.Columns.Select(c => r.Value(c) is { } v ? Csv(v) : ""))).Append('\n');
            return CostsEndpoints.Csv(csv, $"{job.Id}-metrics.csv");
        }
        return TypedResults.Ok(new MetricList(rows));
    }

    /// <summary>The job's metrics rows, as <see cref="JobProjection.MetricRows"/> decides them from its log.</summary>
    public static List<MetricRow> MetricRows(CoordinatorRuntime rt, JobRow job) =>
        JobProjection.MetricRows(JobEvents.Read(rt.Store, job.Id, 0, null, int.MaxValue, rt.Log));

    private static string Csv(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
