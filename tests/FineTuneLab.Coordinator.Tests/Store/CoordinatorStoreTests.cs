using FineTuneLab.Coordinator.Store;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Tests.Store;

public sealed class CoordinatorStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ftl-store-").FullName;
    private string DbPath => Path.Combine(_dir, "nested", "coordinator.db");

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
        Assert.Equal(Migrations.All.Count, store.SchemaVersion);
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
        var extended = Migrations.All.Append(new Migration(Migrations.All.Count + 1, "test column", "ALTER TABLE jobs ADD COLUMN test_column INTEGER NOT NULL DEFAULT 0;")).ToList();

        using (var store = CoordinatorStore.Open(DbPath, extended))
            Assert.Equal(Migrations.All.Count + 1, store.SchemaVersion);
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
        var broken = Migrations.All.Append(new Migration(Migrations.All.Count + 1, "broken step", "CREATE TABLE x (a INT); SELECT * FROM no_such_table;")).ToList();

        var e = Assert.Throws<InvalidOperationException>(() => CoordinatorStore.Open(DbPath, broken));

        Assert.Contains($"migration {Migrations.All.Count + 1} (broken step)", e.Message);
        using var store = CoordinatorStore.Open(DbPath);
        using var c = store.OpenConnection();
        Assert.Equal(Migrations.All.Count, store.SchemaVersion);
        Assert.DoesNotContain("x", Column(c, "SELECT name FROM sqlite_master WHERE type = 'table';"));
    }

    [Fact]
    public void A_database_from_a_newer_coordinator_is_refused()
    {
        var extended = Migrations.All.Append(new Migration(Migrations.All.Count + 1, "future", "CREATE TABLE future (a INT);")).ToList();
        using (CoordinatorStore.Open(DbPath, extended)) { }

        var e = Assert.Throws<InvalidOperationException>(() => CoordinatorStore.Open(DbPath));

        Assert.Contains($"schema version {Migrations.All.Count + 1} is newer", e.Message);
    }

    [Fact]
    public void Telemetry_is_idempotent_by_agent_and_seq()
    {
        using var store = CoordinatorStore.Open(DbPath);
        using var c = store.OpenConnection();
        Exec(c, "INSERT INTO agents (id, name, token_hash, registered_at) VALUES ('a1', 'n', 'h', 't');");
        const string insert = "INSERT OR IGNORE INTO telemetry (agent_id, seq, at, gpu_index, metric, value) VALUES ('a1', 7, 't', 0, 'gpu.util', 0.5);";
        Exec(c, insert);
        Exec(c, insert);
        Assert.Equal("1", Scalar(c, "SELECT COUNT(*) FROM telemetry;"));
        Assert.Throws<SqliteException>(() => Exec(c, "INSERT INTO telemetry (agent_id, seq, at, gpu_index, metric, value) VALUES ('ghost', 1, 't', 0, 'm', 1);"));
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
