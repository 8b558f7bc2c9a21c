using System.Globalization;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Store;

/// <summary>
/// The coordinator's SQLite database (WAL): opened, migrated to the latest schema version, and kept open for the
/// process's lifetime. Each caller opens its own pooled connection with <see cref="OpenConnection"/>.
/// </summary>
public sealed class CoordinatorStore : IDisposable
{
    private readonly string _connectionString;
    // Held open so the pool and the WAL stay warm; also guarantees the file stays locked as ours.
    private readonly SqliteConnection _keepAlive;

    private CoordinatorStore(string path, SqliteConnection keepAlive, int version)
    {
        DatabasePath = path;
        _keepAlive = keepAlive;
        _connectionString = keepAlive.ConnectionString;
        SchemaVersion = version;
    }

    public string DatabasePath { get; }
    public int SchemaVersion { get; }

    /// <summary>Opens (creating if needed) the database at <paramref name="path"/> and applies pending migrations.</summary>
    public static CoordinatorStore Open(string path, IReadOnlyList<Migration>? migrations = null)
    {
        migrations ??= Migrations.All;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();

        var connection = new SqliteConnection(connectionString);
        try
        {
            connection.Open();
            Execute(connection, "PRAGMA journal_mode = WAL;");
            Execute(connection, "PRAGMA synchronous = NORMAL;");
            Execute(connection, "PRAGMA foreign_keys = ON;");
            var version = Migrate(connection, migrations, path);
            return new CoordinatorStore(path, connection, version);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public SqliteConnection OpenConnection()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        Execute(connection, "PRAGMA foreign_keys = ON;");
        return connection;
    }

    public void Dispose()
    {
        _keepAlive.Dispose();
        SqliteConnection.ClearAllPools();
    }

    private static int Migrate(SqliteConnection connection, IReadOnlyList<Migration> migrations, string path)
    {
        // Versions strictly increase; a gap is allowed (steps are numbered when planned, and land independently).
        for (var i = 1; i < migrations.Count; i++)
        {
            if (migrations[i].Version <= migrations[i - 1].Version)
                throw new InvalidOperationException($"migration list is malformed: entry {i} has version {migrations[i].Version}, not above {migrations[i - 1].Version}");
        }

        Execute(connection, """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    INTEGER PRIMARY KEY,
                name       TEXT NOT NULL,
                applied_at TEXT NOT NULL
            );
            """);
        var current = Convert.ToInt32(Scalar(connection, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations;"), CultureInfo.InvariantCulture);
        var latest = migrations.Count == 0 ? 0 : migrations[^1].Version;
        if (current > latest)
            throw new InvalidOperationException(
                $"{path}: schema version {current} is newer than this coordinator knows ({latest}); use a newer ftl-coordinator");

        foreach (var migration in migrations.Where(m => m.Version > current))
        {
            using var tx = connection.BeginTransaction();
            try
            {
                using (var cmd = connection.CreateCommand())
                {
                    cmd.Transaction = tx;
                    cmd.CommandText = migration.Sql;
                    cmd.ExecuteNonQuery();
                }
                using (var record = connection.CreateCommand())
                {
                    record.Transaction = tx;
                    record.CommandText = "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($v, $n, $t);";
                    record.Parameters.AddWithValue("$v", migration.Version);
                    record.Parameters.AddWithValue("$n", migration.Name);
                    record.Parameters.AddWithValue("$t", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
                    record.ExecuteNonQuery();
                }
                tx.Commit();
            }
            catch (SqliteException e)
            {
                throw new InvalidOperationException($"{path}: migration {migration.Version} ({migration.Name}) failed: {e.Message}", e);
            }
            current = migration.Version;
        }
        return current;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }
}
