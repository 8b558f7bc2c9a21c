namespace FineTuneLab.Coordinator.Store;

/// <summary>The schema's history. Append new steps; never change or reorder one that has shipped.</summary>
public static class Migrations
{
    public static readonly IReadOnlyList<Migration> All =
    [
        new(1, "core tables", """
            CREATE TABLE agents (
                id              TEXT PRIMARY KEY,
                name            TEXT NOT NULL,
                token_hash      TEXT NOT NULL,
                inventory_json  TEXT NOT NULL DEFAULT '{}',
                price_per_hour  REAL NOT NULL DEFAULT 0,
                state           TEXT NOT NULL DEFAULT 'offline',
                persisted_seq   INTEGER NOT NULL DEFAULT 0,
                registered_at   TEXT NOT NULL,
                last_seen_at    TEXT
            );

            CREATE TABLE jobs (
                id                 TEXT PRIMARY KEY,
                name               TEXT NOT NULL,
                spec_json          TEXT NOT NULL,
                state              TEXT NOT NULL,
                agent_id           TEXT REFERENCES agents(id),
                min_vram_bytes     INTEGER NOT NULL DEFAULT 0,
                max_price_per_hour REAL,
                budget_usd         REAL,
                spent_usd          REAL NOT NULL DEFAULT 0,
                price_per_hour     REAL,
                resume_checkpoint  TEXT,
                reason             TEXT,
                created_at         TEXT NOT NULL,
                updated_at         TEXT NOT NULL
            );
            CREATE INDEX jobs_state ON jobs(state, created_at);

            -- Idempotent by (agent, seq): a replayed outbox item is ignored.
            CREATE TABLE telemetry (
                agent_id  TEXT NOT NULL REFERENCES agents(id),
                seq       INTEGER NOT NULL,
                job_id    TEXT,
                at        TEXT NOT NULL,
                gpu_index INTEGER NOT NULL,
                metric    TEXT NOT NULL,
                value     REAL NOT NULL,
                PRIMARY KEY (agent_id, seq)
            ) WITHOUT ROWID;
            CREATE INDEX telemetry_job ON telemetry(job_id, metric, at);

            CREATE TABLE logs (
                agent_id  TEXT NOT NULL REFERENCES agents(id),
                seq       INTEGER NOT NULL,
                job_id    TEXT,
                at        TEXT NOT NULL,
                level     TEXT NOT NULL,
                source    TEXT NOT NULL,
                text      TEXT NOT NULL,
                PRIMARY KEY (agent_id, seq)
            ) WITHOUT ROWID;
            CREATE INDEX logs_job ON logs(job_id, at);

            -- Trainer events (step, eval, checkpoint, ...) and job state changes.
            CREATE TABLE events (
                agent_id    TEXT NOT NULL REFERENCES agents(id),
                seq         INTEGER NOT NULL,
                job_id      TEXT NOT NULL,
                trainer_seq INTEGER,
                type        TEXT NOT NULL,
                json        TEXT NOT NULL,
                at          TEXT NOT NULL,
                PRIMARY KEY (agent_id, seq)
            ) WITHOUT ROWID;
            CREATE INDEX events_job ON events(job_id, at);

            CREATE TABLE artifacts (
                sha256      TEXT NOT NULL,
                job_id      TEXT REFERENCES jobs(id),
                name        TEXT NOT NULL,
                kind        TEXT NOT NULL,
                size_bytes  INTEGER NOT NULL,
                created_at  TEXT NOT NULL,
                PRIMARY KEY (sha256, name)
            );
            CREATE INDEX artifacts_job ON artifacts(job_id);
            """),
        new(2, "jobs lifecycle, checkpoints, ingest order", """
            ALTER TABLE agents ADD COLUMN current_job_id TEXT;
            ALTER TABLE jobs ADD COLUMN project TEXT NOT NULL DEFAULT '';
            ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE jobs ADD COLUMN resources_json TEXT NOT NULL DEFAULT '{}';
            ALTER TABLE jobs ADD COLUMN budget_hours REAL;
            ALTER TABLE jobs ADD COLUMN stop_reason TEXT;
            ALTER TABLE jobs ADD COLUMN error_json TEXT;
            ALTER TABLE jobs ADD COLUMN started_at TEXT;
            ALTER TABLE jobs ADD COLUMN finished_at TEXT;
            ALTER TABLE jobs ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE jobs ADD COLUMN uptime_s REAL NOT NULL DEFAULT 0;
            ALTER TABLE jobs ADD COLUMN spent_before_usd REAL NOT NULL DEFAULT 0;
            ALTER TABLE jobs ADD COLUMN hours_before REAL NOT NULL DEFAULT 0;
            ALTER TABLE jobs ADD COLUMN gpu_index INTEGER;
            ALTER TABLE jobs ADD COLUMN adapter_sha256 TEXT;
            -- A global, monotonically increasing ingest order: the cursor of event/log feeds (SSE Last-Event-ID).
            ALTER TABLE events ADD COLUMN ingest_id INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE logs ADD COLUMN ingest_id INTEGER NOT NULL DEFAULT 0;
            CREATE INDEX events_job_ingest ON events(job_id, ingest_id);
            CREATE INDEX logs_job_ingest ON logs(job_id, ingest_id);
            CREATE TABLE checkpoints (
                job_id     TEXT NOT NULL REFERENCES jobs(id),
                step       INTEGER NOT NULL,
                sha256     TEXT NOT NULL,
                bytes      INTEGER NOT NULL,
                created_at TEXT NOT NULL,
                PRIMARY KEY (job_id, step)
            );
            """),
        new(3, "cost ledger, cost series, coordinator job events", """
            -- Spend by job, agent and UTC day, written as agents report the uptime they observed while holding a job
            -- (CostLedger): the rows of a job sum to its spent_usd. agent_id '' marks spend from before this table.
            CREATE TABLE cost_ledger (
                job_id    TEXT NOT NULL REFERENCES jobs(id),
                agent_id  TEXT NOT NULL,
                project   TEXT NOT NULL,
                day       TEXT NOT NULL,
                seconds   REAL NOT NULL,
                usd       REAL NOT NULL,
                PRIMARY KEY (job_id, agent_id, day)
            ) WITHOUT ROWID;
            CREATE INDEX cost_ledger_day ON cost_ledger(day);
            INSERT INTO cost_ledger (job_id, agent_id, project, day, seconds, usd)
            SELECT id, COALESCE(agent_id, ''), project, substr(COALESCE(finished_at, updated_at), 1, 10),
                   hours_before * 3600 + CASE WHEN state IN ('assigned', 'running', 'paused', 'stopping') THEN uptime_s ELSE 0 END,
                   spent_before_usd + CASE WHEN state IN ('assigned', 'running', 'paused', 'stopping') THEN COALESCE(price_per_hour, 0) * uptime_s / 3600.0 ELSE 0 END
            FROM jobs
            WHERE hours_before > 0 OR spent_before_usd > 0 OR (state IN ('assigned', 'running', 'paused', 'stopping') AND uptime_s > 0);

            -- A job's cumulative spend over time: the latest report in each 10-second bucket.
            CREATE TABLE cost_points (
                job_id    TEXT NOT NULL REFERENCES jobs(id),
                bucket    INTEGER NOT NULL,
                at_ms     INTEGER NOT NULL,
                spent_usd REAL NOT NULL,
                PRIMARY KEY (job_id, bucket)
            ) WITHOUT ROWID;

            -- Events the coordinator writes itself (assigned, requeued, state, alerts) share the feed with the agents'
            -- events: agent_id '' (no agent row, hence no foreign key) and seq = their ingest_id. `key` makes an event
            -- that must exist once per job (e.g. a budget alert) idempotent.
            CREATE TABLE events_v3 (
                agent_id    TEXT NOT NULL,
                seq         INTEGER NOT NULL,
                job_id      TEXT NOT NULL,
                trainer_seq INTEGER,
                type        TEXT NOT NULL,
                json        TEXT NOT NULL,
                at          TEXT NOT NULL,
                ingest_id   INTEGER NOT NULL DEFAULT 0,
                key         TEXT,
                PRIMARY KEY (agent_id, seq)
            ) WITHOUT ROWID;
            INSERT INTO events_v3 (agent_id, seq, job_id, trainer_seq, type, json, at, ingest_id)
                SELECT agent_id, seq, job_id, trainer_seq, type, json, at, ingest_id FROM events;
            DROP TABLE events;
            ALTER TABLE events_v3 RENAME TO events;
            CREATE INDEX events_job ON events(job_id, at);
            CREATE INDEX events_job_ingest ON events(job_id, ingest_id);
            CREATE UNIQUE INDEX events_job_key ON events(job_id, key) WHERE key IS NOT NULL;
            """),
        new(4, "telemetry time as unix milliseconds, pending agent commands", """
            -- at: INTEGER unix milliseconds (was ISO-8601 text). The job index skips idle-node points (job_id NULL),
            -- which no job query reads; the primary key serves dedup by (agent, seq) and per-agent reads. No foreign
            -- key on agent_id: only authenticated agents' sessions write here, and the check cost ~10% of a row.
            CREATE TABLE telemetry_v4 (
                agent_id  TEXT NOT NULL,
                seq       INTEGER NOT NULL,
                job_id    TEXT,
                at        INTEGER NOT NULL,
                gpu_index INTEGER NOT NULL,
                metric    TEXT NOT NULL,
                value     REAL NOT NULL,
                PRIMARY KEY (agent_id, seq)
            ) WITHOUT ROWID;
            INSERT INTO telemetry_v4 (agent_id, seq, job_id, at, gpu_index, metric, value)
                SELECT agent_id, seq, job_id, CAST(round(unixepoch(at, 'subsec') * 1000) AS INTEGER), gpu_index, metric, value FROM telemetry;
            DROP TABLE telemetry;
            ALTER TABLE telemetry_v4 RENAME TO telemetry;
            CREATE INDEX telemetry_job ON telemetry(job_id, metric, at) WHERE job_id IS NOT NULL;

            -- A user's stop/pause/resume/cancel for a job's agent, kept until the agent acks it (CommandAck through its
            -- outbox) and sent again at every session start until then.
            CREATE TABLE agent_commands (
                id         INTEGER PRIMARY KEY,
                agent_id   TEXT NOT NULL REFERENCES agents(id),
                job_id     TEXT NOT NULL REFERENCES jobs(id),
                kind       TEXT NOT NULL,
                reason     TEXT NOT NULL,
                created_at TEXT NOT NULL,
                acked_at   TEXT
            );
            CREATE INDEX agent_commands_pending ON agent_commands(agent_id, id) WHERE acked_at IS NULL;
            """),
        new(5, "the trainer's pace in the job's row", """
            -- JobProjection.ObservePace folds each stored step and checkpoint event in, so the budget check reads the
            -- row instead of re-reading the job's last step events on every scheduler tick.
            ALTER TABLE jobs ADD COLUMN pace_json TEXT;
            """),
    ];
}
