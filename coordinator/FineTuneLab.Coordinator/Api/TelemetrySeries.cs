using System.Globalization;
using FineTuneLab.Coordinator.Store;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Api;

/// <summary>One telemetry series: a metric of one GPU (gpu -1 for host-wide metrics), its points in time order.</summary>
public sealed record TelemetrySeriesData(string Metric, int Gpu, List<TelemetryReading> Points);

/// <summary>A stored telemetry reading: unix milliseconds and value.</summary>
public readonly record struct TelemetryReading(long UnixMs, double Value);

/// <summary>
/// Reads the <c>telemetry</c> table for a job or an agent into per-(metric, GPU) series, downsampled to a maximum number
/// of points per series. How <c>telemetry.at</c> is stored lives in <see cref="StoredTime"/> alone.
/// </summary>
public static class TelemetrySeries
{
    /// <summary>An agent's rows are read newest first along its (agent_id, seq) key; seq follows sampling order only
    /// roughly (GPU and host samplers enqueue concurrently), so reading goes this far past the window before it stops.</summary>
    private const long SeqOrderSlackMs = 60_000;

    /// <summary>Every point a job's agents reported while it ran, at or after <paramref name="sinceMs"/>.</summary>
    public static (List<TelemetrySeriesData> Series, HashSet<string> AgentIds) ForJob(CoordinatorStore store, string jobId, long sinceMs,
        IReadOnlyList<string>? metrics, int maxPoints)
    {
        using var c = store.OpenConnection();
        var (metricClause, metricArgs) = MetricFilter(metrics);
        using var cmd = Sql.Command(c, $"SELECT agent_id, gpu_index, metric, at, value FROM telemetry WHERE job_id = $j AND at >= $since{metricClause}",
            [("$j", jobId), ("$since", StoredTime.Parameter(c, sinceMs)), .. metricArgs]);
        using var r = cmd.ExecuteReader();
        var collector = new Collector();
        var agents = new HashSet<string>(StringComparer.Ordinal);
        while (r.Read())
        {
            agents.Add(r.GetString(0));
            collector.Add(r.GetString(2), r.GetInt32(1), StoredTime.UnixMs(r, 3), r.GetDouble(4));
        }
        return (collector.Finish(maxPoints), agents);
    }

    /// <summary>Every point an agent reported at or after <paramref name="sinceMs"/> (idle or busy).</summary>
    public static List<TelemetrySeriesData> ForAgent(CoordinatorStore store, string agentId, long sinceMs, IReadOnlyList<string>? metrics, int maxPoints)
    {
        using var c = store.OpenConnection();
        var (metricClause, metricArgs) = MetricFilter(metrics);
        // The primary key (agent_id, seq) serves this walk; an index on (agent_id, at) would cost every ingest.
        using var cmd = Sql.Command(c, $"SELECT gpu_index, metric, at, value FROM telemetry WHERE agent_id = $a{metricClause} ORDER BY seq DESC",
            [("$a", agentId), .. metricArgs]);
        using var r = cmd.ExecuteReader();
        var collector = new Collector();
        while (r.Read())
        {
            var at = StoredTime.UnixMs(r, 2);
            if (at < sinceMs - SeqOrderSlackMs) break;
            if (at >= sinceMs) collector.Add(r.GetString(1), r.GetInt32(0), at, r.GetDouble(3));
        }
        return collector.Finish(maxPoints);
    }

    /// <summary>
    /// At most <paramref name="maxPoints"/> points: the time span is cut into maxPoints/2 equal buckets and each bucket
    /// keeps its lowest and highest reading (in time order), so a spike in memory or temperature never averages away.
    /// </summary>
    public static List<TelemetryReading> Downsample(List<TelemetryReading> sorted, int maxPoints)
    {
        if (sorted.Count <= maxPoints) return sorted;
        var buckets = Math.Max(1, maxPoints / 2);
        long first = sorted[0].UnixMs, span = sorted[^1].UnixMs - first + 1;
        var result = new List<TelemetryReading>(buckets * 2);
        var i = 0;
        while (i < sorted.Count)
        {
            var bucket = (int)((sorted[i].UnixMs - first) * buckets / span);
            TelemetryReading min = sorted[i], max = sorted[i];
            var minAt = i;
            var maxAt = i;
            for (i++; i < sorted.Count && (int)((sorted[i].UnixMs - first) * buckets / span) == bucket; i++)
            {
                if (sorted[i].Value < min.Value) (min, minAt) = (sorted[i], i);
                if (sorted[i].Value > max.Value) (max, maxAt) = (sorted[i], i);
            }
            if (minAt == maxAt) result.Add(min);
            else if (minAt < maxAt) { result.Add(min); result.Add(max); }
            else { result.Add(max); result.Add(min); }
        }
        return result;
    }

    private static (string Clause, (string, object?)[] Args) MetricFilter(IReadOnlyList<string>? metrics)
    {
        if (metrics is null || metrics.Count == 0) return ("", []);
        var names = metrics.Select((_, i) => "$m" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        return ($" AND metric IN ({string.Join(", ", names)})", metrics.Select((m, i) => (names[i], (object?)m)).ToArray());
    }

    private sealed class Collector
    {
        private readonly Dictionary<(string Metric, int Gpu), List<TelemetryReading>> _series = [];

        public void Add(string metric, int gpu, long unixMs, double value)
        {
            if (!_series.TryGetValue((metric, gpu), out var points)) _series[(metric, gpu)] = points = [];
            points.Add(new TelemetryReading(unixMs, value));
        }

        public List<TelemetrySeriesData> Finish(int maxPoints) => _series
            .OrderBy(s => s.Key.Gpu).ThenBy(s => s.Key.Metric, StringComparer.Ordinal)
            .Select(s =>
            {
                s.Value.Sort((a, b) => a.UnixMs.CompareTo(b.UnixMs));
                return new TelemetrySeriesData(s.Key.Metric, s.Key.Gpu, Downsample(s.Value, maxPoints));
            }).ToList();
    }

    /// <summary>
    /// How <c>telemetry.at</c> is stored. Today ISO-8601 UTC text in the round-trip ("O") format, which sorts as time does;
    /// a schema that declares the column INTEGER (unix milliseconds) is recognised from the table's declaration, so both
    /// the where-clause parameter and the reading follow a migration without a change here.
    /// </summary>
    private static class StoredTime
    {
        public static object Parameter(SqliteConnection c, long unixMs) =>
            IsUnixMs(c) ? unixMs : DateTimeOffset.FromUnixTimeMilliseconds(unixMs).UtcDateTime.ToString("O", CultureInfo.InvariantCulture);

        public static long UnixMs(SqliteDataReader r, int ordinal) => r.GetFieldType(ordinal) == typeof(long)
            ? r.GetInt64(ordinal)
            : new DateTimeOffset(DateTime.Parse(r.GetString(ordinal), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal)).ToUnixTimeMilliseconds();

        private static bool IsUnixMs(SqliteConnection c) =>
            Sql.Scalar(c, "SELECT type FROM pragma_table_info('telemetry') WHERE name = 'at'") is string type &&
            type.Equals("INTEGER", StringComparison.OrdinalIgnoreCase);
    }
}
