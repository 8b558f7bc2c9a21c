using System.Globalization;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Store;

/// <summary>One telemetry series: a metric of one GPU (gpu -1 for host-wide metrics), its points in time order.</summary>
public sealed record TelemetrySeriesData(string Metric, int Gpu, List<TelemetryReading> Points);

/// <summary>A stored telemetry reading: unix milliseconds and value.</summary>
public readonly record struct TelemetryReading(long UnixMs, double Value);

/// <summary>
/// Reads the <c>telemetry</c> table for a job or an agent into per-(metric, GPU) series, downsampled to a maximum number
/// of points per series. <c>telemetry.at</c> is unix milliseconds (migration 4, <see cref="TelemetryTime"/>).
/// </summary>
public static class TelemetrySeries
{
    /// <summary>An agent's rows are read newest first along its (agent_id, seq) key; seq follows sampling order only
    /// roughly (GPU and host samplers enqueue concurrently), so reading goes this far past the window before it stops.</summary>
    private const long SeqOrderSlackMs = 60_000;

    /// <summary>
    /// Every point a job's agents reported while it ran, at or after <paramref name="sinceMs"/>: one query per metric, so
    /// each is a seek on the (job_id, metric, at) index, and a row carries only GPU, time (converted by SQLite) and value:
    /// nothing per row is allocated or parsed here. (Bucketing in SQL with GROUP BY measured slower than this.)
    /// </summary>
    public static (List<TelemetrySeriesData> Series, List<string> AgentIds) ForJob(CoordinatorStore store, string jobId, long sinceMs,
        IReadOnlyList<string>? metrics, int maxPoints)
    {
        using var c = store.OpenConnection();
        var since = sinceMs;
        var collector = new Collector();
        metrics ??= Sql.Query(c, "SELECT DISTINCT metric FROM telemetry WHERE job_id = $j AND at >= $since", r => r.GetString(0), ("$j", jobId), ("$since", since));
        using (var cmd = Sql.Command(c, "SELECT gpu_index, at, value FROM telemetry WHERE job_id = $j AND metric = $m AND at >= $since",
            ("$j", jobId), ("$m", null), ("$since", since)))
        {
            foreach (var metric in metrics.Distinct(StringComparer.Ordinal))
            {
                cmd.Parameters["$m"].Value = metric;
                using var r = cmd.ExecuteReader();
                while (r.Read()) collector.Add(metric, r.GetInt32(0), r.GetInt64(1), r.GetDouble(2));
            }
        }
        // The agents that reported them, per metric so that each is a seek too (the index holds the key's agent_id: no
        // table rows are read).
        var agents = new List<string>();
        using (var cmd = Sql.Command(c, "SELECT DISTINCT agent_id FROM telemetry WHERE job_id = $j AND metric = $m AND at >= $since", ("$j", jobId), ("$m", null), ("$since", since)))
        {
            foreach (var metric in metrics.Distinct(StringComparer.Ordinal))
            {
                cmd.Parameters["$m"].Value = metric;
                using var r = cmd.ExecuteReader();
                while (r.Read()) if (!agents.Contains(r.GetString(0))) agents.Add(r.GetString(0));
            }
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
            var at = r.GetInt64(2);
            if (at < sinceMs - SeqOrderSlackMs) break;
            if (at >= sinceMs) collector.Add(r.GetString(1), r.GetInt32(0), at, r.GetDouble(3));
        }
        return collector.Finish(maxPoints);
    }

    /// <summary>A job's readings of one GPU metric at or after <paramref name="sinceMs"/> (what the anomaly checks look at).</summary>
    public static List<double> Values(CoordinatorStore store, string jobId, int gpu, string metric, long sinceMs)
    {
        using var c = store.OpenConnection();
        return Sql.Query(c, "SELECT value FROM telemetry WHERE job_id = $j AND gpu_index = $g AND metric = $m AND at >= $since",
            r => r.GetDouble(0), ("$j", jobId), ("$g", gpu), ("$m", metric), ("$since", sinceMs));
    }

    /// <summary>The highest reading of a job's GPU metric at or after <paramref name="sinceMs"/>, if any.</summary>
    public static double? Max(CoordinatorStore store, string jobId, int gpu, string metric, long sinceMs)
    {
        using var c = store.OpenConnection();
        return Sql.Scalar(c, "SELECT MAX(value) FROM telemetry WHERE job_id = $j AND gpu_index = $g AND metric = $m AND at >= $since",
            ("$j", jobId), ("$g", gpu), ("$m", metric), ("$since", sinceMs)) as double?;
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

    private static bool IsSorted(List<TelemetryReading> points)
    {
        for (var i = 1; i < points.Count; i++)
            if (points[i].UnixMs < points[i - 1].UnixMs) return false;
        return true;
    }

    private sealed class Collector
    {
        private readonly Dictionary<(string Metric, int Gpu), List<TelemetryReading>> _series = [];

        // Rows come in runs of one series: the last one found is tried first.
        private (string Metric, int Gpu) _lastKey;
        private List<TelemetryReading>? _last;

        public void Add(string metric, int gpu, long unixMs, double value)
        {
            if (_last is null || gpu != _lastKey.Gpu || !ReferenceEquals(metric, _lastKey.Metric))
            {
                if (!_series.TryGetValue((metric, gpu), out _last)) _series[(metric, gpu)] = _last = [];
                _lastKey = (metric, gpu);
            }
            _last.Add(new TelemetryReading(unixMs, value));
        }

        public List<TelemetrySeriesData> Finish(int maxPoints) => _series
            .OrderBy(s => s.Key.Gpu).ThenBy(s => s.Key.Metric, StringComparer.Ordinal)
            .Select(s =>
            {
                if (!IsSorted(s.Value)) s.Value.Sort((a, b) => a.UnixMs.CompareTo(b.UnixMs));
                return new TelemetrySeriesData(s.Key.Metric, s.Key.Gpu, Downsample(s.Value, maxPoints));
            }).ToList();
    }
}
