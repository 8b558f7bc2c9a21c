using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Store;

/// <summary>One earlier run's measured speed: the last step event a job's trainer sent from one agent (and GPU).</summary>
public sealed record ThroughputSample(string JobId, string AgentId, int? GpuIndex, string StepJson, string At);

/// <summary>
/// Where a job that has not run yet gets its throughput from: earlier runs of the same model with the same method,
/// newest first, each job's last step per agent (its <c>tokens_per_s</c> is the trainer's running average).
/// </summary>
public static class ThroughputHistory
{
    public static List<ThroughputSample> Of(CoordinatorStore store, string modelPath, string method, int limit = 50)
    {
        using var c = store.OpenConnection();
        return Sql.Query(c, """
            SELECT j.id, e.agent_id, j.gpu_index, e.json, e.at FROM jobs j
            JOIN events e ON e.job_id = j.id AND e.type = 'step'
            WHERE json_extract(j.spec_json, '$.model.path') = $m
              AND COALESCE(json_extract(j.spec_json, '$.method'), 'lora') = $method
              AND e.ingest_id = (SELECT MAX(x.ingest_id) FROM events x WHERE x.job_id = j.id AND x.type = 'step' AND x.agent_id = e.agent_id)
            ORDER BY e.ingest_id DESC LIMIT $l
            """, r => new ThroughputSample(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetInt32(2), r.GetString(3), r.GetString(4)),
            ("$m", modelPath), ("$method", method), ("$l", limit));
    }
}
