using FineTuneLab.Coordinator.Store;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Jobs;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary>
/// <c>GET /api/costs</c>: spend from the cost ledger per day (UTC), project, agent or job, as JSON or CSV; and
/// <c>GET /api/jobs/{id}/cost</c>: a job's spend over time with its rate and projection.
/// </summary>
public static class CostsEndpoints
{
    /// <summary>At most this many points of a job's cost series are answered (evenly thinned, the last one kept).</summary>
    public const int MaxSeriesPoints = 2000;

    public static void MapCosts(this IEndpointRouteBuilder endpoints, Func<CoordinatorRuntime?> runtime)
    {
        endpoints.MapGet("/api/costs", With(runtime, async (http, rt) =>
        {
            var groupBy = Query(http, "group_by") ?? "day";
            if (!CostLedger.GroupBys.Contains(groupBy)) { await Error(http, 400, $"group_by '{groupBy}' is not one of {string.Join(", ", CostLedger.GroupBys)}"); return; }
            if (!TryDay(http, "from", out var from, out var problem) || !TryDay(http, "to", out var to, out problem)) { await Error(http, 400, problem!); return; }
            if (from > to) { await Error(http, 400, $"from ({from:yyyy-MM-dd}) is after to ({to:yyyy-MM-dd})"); return; }
            if (!TryFormat(http, out var csv, out problem)) { await Error(http, 400, problem!); return; }

            var rows = CostLedger.Totals(rt.Store, groupBy, from, to);
            if (csv)
            {
                var text = new StringBuilder("key,label,spent_usd,hours,jobs\n");
                foreach (var r in rows)
                    text.Append(CultureInfo.InvariantCulture, $"{CsvField(r.Key)},{CsvField(r.Label)},{Number(r.SpentUsd)},{Number(r.Hours)},{r.Jobs}\n");
                await WriteCsv(http, text.ToString(), $"costs-by-{groupBy}.csv");
                return;
            }
            await Write(http, new JsonObject
            {
                ["group_by"] = groupBy, ["from"] = Day(from), ["to"] = Day(to),
                ["rows"] = new JsonArray(rows.Select(r => (JsonNode)new JsonObject
                {
                    ["key"] = r.Key, ["label"] = r.Label, ["spent_usd"] = Round(r.SpentUsd), ["hours"] = Round(r.Hours), ["jobs"] = r.Jobs,
                }).ToArray()),
                ["total_usd"] = Round(rows.Sum(r => r.SpentUsd)),
                ["total_hours"] = Round(rows.Sum(r => r.Hours)),
            });
        }));

        endpoints.MapGet("/api/jobs/{id}/cost", With(runtime, async (http, rt) =>
        {
            if (rt.Jobs.Get(RouteId(http)) is not { } job) { await Error(http, 404, $"job {RouteId(http)} not found"); return; }
            if (!TryFormat(http, out var csv, out var problem)) { await Error(http, 400, problem!); return; }
            var points = Thin(CostLedger.Series(rt.Store, job.Id), MaxSeriesPoints);
            if (csv)
            {
                var text = new StringBuilder("unix_ms,time,spent_usd\n");
                foreach (var (ms, usd) in points)
                    text.Append(CultureInfo.InvariantCulture, $"{ms},{DateTimeOffset.FromUnixTimeMilliseconds(ms):yyyy-MM-ddTHH:mm:ss.fffZ},{Number(usd)}\n");
                await WriteCsv(http, text.ToString(), $"{job.Id}-cost.csv");
                return;
            }
            var o = JobView.CostJson(JobProjection.Cost(job, JobEvents.Latest<FineTuneLab.Events.StepEvent>(rt.Store, job.Id)));
            o["job_id"] = job.Id;
            o["points"] = new JsonArray(points.Select(p => (JsonNode)new JsonArray(p.UnixMs, Round(p.SpentUsd))).ToArray());
            await Write(http, o);
        }));
    }

    /// <summary>At most <paramref name="max"/> points, evenly spread, always with the first and the last.</summary>
    public static List<(long UnixMs, double SpentUsd)> Thin(List<(long UnixMs, double SpentUsd)> points, int max)
    {
        if (points.Count <= max) return points;
        var stride = (double)(points.Count - 1) / (max - 1);
        return Enumerable.Range(0, max).Select(i => points[(int)Math.Round(i * stride)]).ToList();
    }

    private static bool TryDay(HttpContext http, string name, out DateOnly? day, out string? problem)
    {
        day = null;
        problem = null;
        var text = Query(http, name);
        if (string.IsNullOrEmpty(text)) return true;
        if (DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)) { day = d; return true; }
        problem = $"{name} '{text}' is not a date (YYYY-MM-DD, UTC)";
        return false;
    }

    private static bool TryFormat(HttpContext http, out bool csv, out string? problem)
    {
        var format = Query(http, "format") ?? "json";
        csv = format == "csv";
        problem = format is "json" or "csv" ? null : $"format '{format}' is not one of json, csv";
        return problem is null;
    }

    private static async Task WriteCsv(HttpContext http, string text, string fileName)
    {
        http.Response.ContentType = "text/csv; charset=utf-8";
        http.Response.Headers.ContentDisposition = $"attachment; filename=\"{fileName}\"";
        await http.Response.WriteAsync(text);
    }

    /// <summary>RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.</summary>
    public static string CsvField(string s) =>
        s.AsSpan().IndexOfAny(",\"\r\n") < 0 ? s : "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    // Nine decimals: below a billing cent by far, and free of binary-fraction noise such as 0.30000000000000004.
    private static double Round(double v) => Math.Round(v, 9);

    private static string Number(double v) => Round(v).ToString("R", CultureInfo.InvariantCulture);

    private static string? Day(DateOnly? d) => d?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}
