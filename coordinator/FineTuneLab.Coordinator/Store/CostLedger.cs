using FineTuneLab.Coordinator.Jobs;
using System.Globalization;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Store;

/// <summary>One slice of spend: a day, project, agent or job with what it cost.</summary>
public sealed record CostRow(string Key, string Label, double SpentUsd, double Hours, long Jobs);

/// <summary>
/// The cost ledger: spend by (job, agent, UTC day) and each job's cumulative spend over time, both written from the
/// <see cref="Billing"/> that <see cref="JobProjection"/> decides for the uptime an agent reports (heartbeats and
/// state changes); <see cref="Record"/> is the only writer, which keeps a job's ledger rows summing to its spend.
/// </summary>
public static class CostLedger
{
    public static readonly string[] GroupBys = ["day", "project", "agent", "job"];

    /// <summary>Width of a cost-series bucket: the latest report in each bucket is kept.</summary>
    public const long PointBucketMs = 10_000;

    /// <summary>
    /// Writes what <see cref="JobProjection"/> billed, inside the caller's transaction: the seconds spread over the
    /// seconds just before the report, split at UTC midnight, and a point of the job's cost series.
    /// </summary>
    public static void Record(SqliteConnection c, string jobId, Billing bill)
    {
        var end = bill.End.ToUniversalTime();
        foreach (var (day, seconds) in SplitByUtcDay(end, bill.Seconds))
        {
            Sql.Execute(c, """
                INSERT INTO cost_ledger (job_id, agent_id, project, day, seconds, usd) VALUES ($j, $a, $p, $d, $s, $usd)
                ON CONFLICT (job_id, agent_id, day) DO UPDATE SET seconds = seconds + excluded.seconds, usd = usd + excluded.usd
                """, ("$j", jobId), ("$a", bill.AgentId), ("$p", bill.Project), ("$d", day), ("$s", seconds), ("$usd", bill.PricePerHour * seconds / 3600.0));
        }
        RecordPoint(c, jobId, end, bill.SpentUsd);
    }

    /// <summary>Adds a point to the job's cost series: its cumulative spend at <paramref name="at"/>.</summary>
    private static void RecordPoint(SqliteConnection c, string jobId, DateTime at, double spentUsd)
    {
        var ms = new DateTimeOffset(at.ToUniversalTime()).ToUnixTimeMilliseconds();
        Sql.Execute(c, """
            INSERT INTO cost_points (job_id, bucket, at_ms, spent_usd) VALUES ($j, $b, $ms, $usd)
            ON CONFLICT (job_id, bucket) DO UPDATE SET at_ms = MAX(at_ms, excluded.at_ms), spent_usd = MAX(spent_usd, excluded.spent_usd)
            """, ("$j", jobId), ("$b", ms / PointBucketMs), ("$ms", ms), ("$usd", spentUsd));
    }

    /// <summary>
    /// <paramref name="seconds"/> ending at <paramref name="end"/>, as (UTC day, seconds in it) from the earliest day;
    /// the parts add up to exactly <paramref name="seconds"/>.
    /// </summary>
    public static List<(string Day, double Seconds)> SplitByUtcDay(DateTime end, double seconds)
    {
        var parts = new List<(string, double)>();
        var left = seconds;
        var dayStart = end.Date;
        while (left > 0)
        {
            var inDay = dayStart == end.Date ? (end - dayStart).TotalSeconds : 86_400.0;
            var part = Math.Min(left, inDay);
            // A report at exactly midnight bills the day that just ended.
            if (part > 0 || dayStart != end.Date) parts.Add((dayStart.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), part));
            left -= part;
            dayStart = dayStart.AddDays(-1);
        }
        parts.Reverse();
        return parts;
    }

    /// <summary>Spend grouped by <paramref name="groupBy"/> over the UTC days <paramref name="from"/>..<paramref name="to"/> (inclusive, either open).</summary>
    public static List<CostRow> Totals(CoordinatorStore store, string groupBy, DateOnly? from, DateOnly? to)
    {
        var (key, label, join, order) = groupBy switch
        {
            "day" => ("l.day", "l.day", "", "key"),
            "project" => ("l.project", "CASE WHEN l.project = '' THEN '(no project)' ELSE l.project END", "", "spent DESC, key"),
            "agent" => ("l.agent_id", "COALESCE(a.name, CASE WHEN l.agent_id = '' THEN '(before the ledger)' ELSE l.agent_id END)",
                "LEFT JOIN agents a ON a.id = l.agent_id", "spent DESC, key"),
            "job" => ("l.job_id", "COALESCE(j.name, l.job_id)", "LEFT JOIN jobs j ON j.id = l.job_id", "spent DESC, key"),
            _ => throw new ArgumentException($"group_by '{groupBy}' is not one of {string.Join(", ", GroupBys)}", nameof(groupBy)),
        };
        using var c = store.OpenConnection();
        return Sql.Query(c, $"""
            SELECT {key} AS key, MAX({label}), SUM(l.usd) AS spent, SUM(l.seconds) / 3600.0, COUNT(DISTINCT l.job_id)
            FROM cost_ledger l {join}
            WHERE ($from IS NULL OR l.day >= $from) AND ($to IS NULL OR l.day <= $to)
            GROUP BY {key} ORDER BY {order}
            """, r => new CostRow(r.GetString(0), r.GetString(1), r.GetDouble(2), r.GetDouble(3), r.GetInt64(4)),
            ("$from", Day(from)), ("$to", Day(to)));
    }

    /// <summary>The job's cumulative spend over time as (unix ms, USD), in time order and never decreasing.</summary>
    public static List<(long UnixMs, double SpentUsd)> Series(CoordinatorStore store, string jobId)
    {
        using var c = store.OpenConnection();
        var points = Sql.Query(c, "SELECT at_ms, spent_usd FROM cost_points WHERE job_id = $j ORDER BY at_ms",
            r => (r.GetInt64(0), r.GetDouble(1)), ("$j", jobId));
        // A late report (an outbox replay timed by the agent) may land before a higher one: the curve keeps the maximum.
        var max = 0.0;
        for (var i = 0; i < points.Count; i++)
        {
            max = Math.Max(max, points[i].Item2);
            points[i] = (points[i].Item1, max);
        }
        return points;
    }

    private static string? Day(DateOnly? d) => d?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}
