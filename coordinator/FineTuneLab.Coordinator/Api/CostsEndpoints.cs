using System.Globalization;
using System.Text;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary>Spend per slice over a range of UTC days.</summary>
public sealed record CostTotals(string GroupBy, string? From, string? To, IReadOnlyList<CostSlice> Rows, double TotalUsd, double TotalHours);

public sealed record CostSlice(string Key, string Label, double SpentUsd, double Hours, long Jobs);

/// <summary>A job's cost now (<see cref="CostView"/>) with its spend over time as <c>[unix_ms, spent_usd]</c> points.</summary>
public sealed record JobCostSeries(double SpentUsd, double RateUsdPerHour, double? ProjectedUsd, string? ProjectionBasis, string? ProjectionReason,
    double Hours, string JobId, IReadOnlyList<double[]> Points);

/// <summary>
/// <c>GET /api/costs</c>: spend from the cost ledger per day (UTC), project, agent or job, as JSON or CSV; and
/// <c>GET /api/jobs/{id}/cost</c>: a job's spend over time with its rate and projection.
/// </summary>
public static class CostsEndpoints
{
    /// <summary>At most this many points of a job's cost series are answered (evenly thinned, the last one kept).</summary>
    public const int MaxSeriesPoints = 2000;

    public static void MapCosts(this RouteGroupBuilder costs) =>
        costs.MapGet("", Totals)
            .WithSummary("Spend per day (UTC), project, agent or job {group_by, from, to, rows: [{key, label, spent_usd, hours, jobs}], total_usd}")
            .Produces<CostTotals>(StatusCodes.Status200OK, "application/json", "text/csv")
            .Query("group_by", "How to slice the spend (default day)", CostLedger.GroupBys)
            .Query("from", "First UTC day included, YYYY-MM-DD (default: the first)")
            .Query("to", "Last UTC day included, YYYY-MM-DD (default: the last)")
            .Query("format", "json (default) or csv with the header key,label,spent_usd,hours,jobs", "json", "csv");

    public static void MapJobCost(this RouteGroupBuilder jobs) =>
        jobs.MapGet("/{id}/cost", JobCost)
            .WithSummary("The job's spend over time {points: [[unix_ms, spent_usd]], spent_usd, rate_usd_per_hour, projected_usd} (format=json|csv)")
            .Produces<JobCostSeries>(StatusCodes.Status200OK, "application/json", "text/csv")
            .Query("format", "json (default) or csv with the header unix_ms,time,spent_usd", "json", "csv");

    private static Results<Ok<CostTotals>, FileContentHttpResult, ProblemHttpResult> Totals(CoordinatorStore store,
        [FromQuery(Name = "group_by")] string? groupBy, string? from, string? to, string? format)
    {
        groupBy ??= "day";
        if (!CostLedger.GroupBys.Contains(groupBy)) return BadRequest($"group_by '{groupBy}' is not one of {string.Join(", ", CostLedger.GroupBys)}");
        if (!TryDay(from, "from", out var fromDay, out var problem) || !TryDay(to, "to", out var toDay, out problem)) return BadRequest(problem!);
        if (fromDay > toDay) return BadRequest($"from ({fromDay:yyyy-MM-dd}) is after to ({toDay:yyyy-MM-dd})");
        if (!TryFormat(format, out var csv, out problem)) return BadRequest(problem!);

        var rows = CostLedger.Totals(store, groupBy, fromDay, toDay);
        if (csv)
        {
            var text = new StringBuilder("key,label,spent_usd,hours,jobs\n");
            foreach (var r in rows)
                text.Append(CultureInfo.InvariantCulture, $"{CsvField(r.Key)},{CsvField(r.Label)},{Number(r.SpentUsd)},{Number(r.Hours)},{r.Jobs}\n");
            return Csv(text, $"costs-by-{groupBy}.csv");
        }
        return TypedResults.Ok(new CostTotals(groupBy, Day(fromDay), Day(toDay),
            rows.Select(r => new CostSlice(r.Key, r.Label, Round(r.SpentUsd), Round(r.Hours), r.Jobs)).ToList(),
            Round(rows.Sum(r => r.SpentUsd)), Round(rows.Sum(r => r.Hours))));
    }

    private static Results<Ok<JobCostSeries>, FileContentHttpResult, ProblemHttpResult> JobCost(string id, string? format, CoordinatorRuntime rt)
    {
        if (rt.Jobs.Get(id) is not { } job) return NotFound($"job {id} not found");
        if (!TryFormat(format, out var csv, out var problem)) return BadRequest(problem!);
        var points = Thin(CostLedger.Series(rt.Store, job.Id), MaxSeriesPoints);
        if (csv)
        {
            var text = new StringBuilder("unix_ms,time,spent_usd\n");
            foreach (var (ms, usd) in points)
                text.Append(CultureInfo.InvariantCulture, $"{ms},{DateTimeOffset.FromUnixTimeMilliseconds(ms):yyyy-MM-ddTHH:mm:ss.fffZ},{Number(usd)}\n");
            return Csv(text, $"{job.Id}-cost.csv");
        }
        var c = JobView.Cost(JobProjection.Cost(job, JobEvents.Latest<FineTuneLab.Events.StepEvent>(rt.Store, job.Id)));
        return TypedResults.Ok(new JobCostSeries(c.SpentUsd, c.RateUsdPerHour, c.ProjectedUsd, c.ProjectionBasis, c.ProjectionReason, c.Hours,
            job.Id, points.Select(p => new[] { p.UnixMs, Round(p.SpentUsd) }).ToList()));
    }

    /// <summary>At most <paramref name="max"/> points, evenly spread, always with the first and the last.</summary>
    public static List<(long UnixMs, double SpentUsd)> Thin(List<(long UnixMs, double SpentUsd)> points, int max)
    {
        if (points.Count <= max) return points;
        var stride = (double)(points.Count - 1) / (max - 1);
        return Enumerable.Range(0, max).Select(i => points[(int)Math.Round(i * stride)]).ToList();
    }

    private static bool TryDay(string? text, string name, out DateOnly? day, out string? problem)
    {
        day = null;
        problem = null;
        if (string.IsNullOrEmpty(text)) return true;
        if (DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)) { day = d; return true; }
        problem = $"{name} '{text}' is not a date (YYYY-MM-DD, UTC)";
        return false;
    }

    private static bool TryFormat(string? format, out bool csv, out string? problem)
    {
        format ??= "json";
        csv = format == "csv";
        problem = format is "json" or "csv" ? null : $"format '{format}' is not one of json, csv";
        return problem is null;
    }

    /// <summary>A CSV download (the file name says what it holds).</summary>
    public static FileContentHttpResult Csv(StringBuilder text, string fileName) =>
        TypedResults.File(Encoding.UTF8.GetBytes(text.ToString()), "text/csv; charset=utf-8", fileName);

    /// <summary>RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.</summary>
    public static string CsvField(string s) =>
        s.AsSpan().IndexOfAny(",\"\r\n") < 0 ? s : "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    // Nine decimals: below a billing cent by far, and free of binary-fraction noise such as 0.30000000000000004.
    private static double Round(double v) => Math.Round(v, 9);

    private static string Number(double v) => Round(v).ToString("R", CultureInfo.InvariantCulture);

    private static string? Day(DateOnly? d) => d?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}
