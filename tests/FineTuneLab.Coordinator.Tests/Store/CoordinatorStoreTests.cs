using FineTuneLab.Coordinator.Store;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Tests.Store;

public sealed class CoordinatorStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ftl-store-").FullName;
    private string DbPath => Path.Combine(_dir, "nested", "coordinator.db");
    private static int Latest => Migrations.All[^1].Version;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void First_open_creates_the_file_in_wal_mode_with_every_core_table()
    {
        using var store = CoordinatorStore.Open(DbPath);
        using var c = store.OpenConnection();

        Assert.True(File.Exists(DbPath));
        Assert.Equal("wal", Scalar(c, "PRAGMA journal_mode;"));
        Assert.Equal(Latest, store.SchemaVersion);
        var tables = Column(c, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name;");
        foreach (var t in new[] { "agents", "artifacts", "checkpoints", "events", "jobs", "logs", "schema_migrations", "telemetry" })
            Assert.Contains(t, tables);
        Assert.Equal(Migrations.All.Select(m => $"{m.Version}:{m.Name}"), Column(c, "SELECT version || ':' || name FROM schema_migrations ORDER BY version;"));
    }

    [Fact]
    public void Reopening_applies_nothing_twice_and_keeps_the_data()
    {
        using (var store = CoordinatorStore.Open(DbPath))
        using (var c = store.OpenConnection())
        {
            Exec(c, "INSERT INTO agents (id, name, token_hash, registered_at) VALUES ('a1', 'node-1', 'h', '2026-01-01T00:00:00Z');");
        }
        using (var again = CoordinatorStore.Open(DbPath))
        using (var c = again.OpenConnection())
        {
            Assert.Equal(Migrations.All.Count.ToString(), Scalar(c, "SELECT COUNT(*) FROM schema_migrations;"));
            Assert.Equal("node-1", Scalar(c, "SELECT name FROM agents WHERE id = 'a1';"));
        }
    }

    [Fact]
    public void A_new_migration_is_applied_on_the_next_open_only()
    {
        using (CoordinatorStore.Open(DbPath)) { }
        var extended = Migrations.All.Append(new Migration(Latest + 1, "test column", "ALTER TABLE jobs ADD COLUMN test_column INTEGER NOT NULL DEFAULT 0;")).ToList();

        using (var store = CoordinatorStore.Open(DbPath, extended))
            Assert.Equal(Latest + 1, store.SchemaVersion);
        using (var store = CoordinatorStore.Open(DbPath, extended))
        using (var c = store.OpenConnection())
        {
            Assert.Equal((Migrations.All.Count + 1).ToString(), Scalar(c, "SELECT COUNT(*) FROM schema_migrations;"));
            Assert.Contains("test_column", Column(c, "SELECT name FROM pragma_table_info('jobs');"));
        }
    }

    [Fact]
    public void A_failing_migration_rolls_back_and_names_itself()
    {
        var broken = Migrations.All.Append(new Migration(Latest + 1, "broken step", "CREATE TABLE x (a INT); SELECT * FROM no_such_table;")).ToList();

        var e = Assert.Throws<InvalidOperationException>(() => CoordinatorStore.Open(DbPath, broken));

        Assert.Contains($"migration {Latest + 1} (broken step)", e.Message);
        using var store = CoordinatorStore.Open(DbPath);
        using var c = store.OpenConnection();
        Assert.Equal(Latest, store.SchemaVersion);
        Assert.DoesNotContain("x", Column(c, "SELECT name FROM sqlite_master WHERE type = 'table';"));
    }

    [Fact]
    public void A_database_from_a_newer_coordinator_is_refused()
    {
        var extended = Migrations.All.Append(new Migration(Latest + 1, "future", "CREATE TABLE future (a INT);")).ToList();
        using (CoordinatorStore.Open(DbPath, extended)) { }

        var e = Assert.Throws<InvalidOperationException>(() => CoordinatorStore.Open(DbPath));

        Assert.Contains($"schema version {Latest + 1} is newer", e.Message);
    }

    [Fact]
    public void Telemetry_is_idempotent_by_agent_and_seq()
    {
        using var store = CoordinatorStore.Open(DbPath);
        using var c = store.OpenConnection();
        Exec(c, "INSERT INTO agents (id, name, token_hash, registered_at) VALUES ('a1', 'n', 'h', 't');");
        const string insert = "INSERT OR IGNORE INTO telemetry (agent_id, seq, at, gpu_index, metric, value) VALUES ('a1', 7, 1795305600123, 0, 'gpu.util', 0.5);";
        Exec(c, insert);
        Exec(c, insert);
        Assert.Equal("1", Scalar(c, "SELECT COUNT(*) FROM telemetry;"));
    }

    [Fact]
    public void Migration_4_turns_stored_telemetry_times_into_unix_milliseconds()
    {
        using (var v2 = CoordinatorStore.Open(DbPath, Migrations.All.Where(m => m.Version <= 2).ToList()))
        using (var c = v2.OpenConnection())
        {
            Exec(c, "INSERT INTO agents (id, name, token_hash, registered_at) VALUES ('a1', 'n', 'h', 't');");
            Exec(c, "INSERT INTO telemetry (agent_id, seq, job_id, at, gpu_index, metric, value) VALUES ('a1', 1, 'j1', '2026-11-22T00:00:00.1234567Z', 0, 'gpu.util', 50);");
            Exec(c, "INSERT INTO telemetry (agent_id, seq, job_id, at, gpu_index, metric, value) VALUES ('a1', 2, NULL, '2026-11-22T00:00:01.0000000Z', -1, 'host.cpu', 3);");
        }

        using var store = CoordinatorStore.Open(DbPath);
        using var db = store.OpenConnection();
        Assert.Equal("1795305600123,1795305601000", Scalar(db, "SELECT group_concat(at, ',') FROM (SELECT at FROM telemetry ORDER BY seq);"));
        Assert.Equal("integer", Scalar(db, "SELECT DISTINCT typeof(at) FROM telemetry;"));
        Assert.Contains("telemetry_job", Column(db, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'telemetry';"));
        Assert.Contains("agent_commands", Column(db, "SELECT name FROM sqlite_master WHERE type = 'table';"));
    }

    private static void Exec(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static string? Scalar(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToString(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static List<string> Column(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        using var r = cmd.ExecuteReader();
        var list = new List<string>();
        while (r.Read()) list.Add(r.GetString(0));
        return list;
    }
}
