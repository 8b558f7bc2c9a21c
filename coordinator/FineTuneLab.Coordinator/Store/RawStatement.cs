using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace FineTuneLab.Coordinator.Store;

/// <summary>
/// A statement prepared once on the ingest writer's connection and re-run with parameters bound by position.
/// Microsoft.Data.Sqlite binds every parameter by name on every execution (a UTF-8 conversion and a linear search of
/// the statement's parameter names each), which dominated the cost of a telemetry row; this goes to SQLite directly.
/// Text is bound as UTF-16 from the string's own memory, so a bind allocates nothing.
/// </summary>
internal sealed class RawStatement : IDisposable
{
    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _stmt;

    public RawStatement(sqlite3 db, string sql)
    {
        _db = db;
        Check(raw.sqlite3_prepare_v3(db, sql, raw.SQLITE_PREPARE_PERSISTENT, out _stmt));
        ParameterCount = raw.sqlite3_bind_parameter_count(_stmt);
    }

    public int ParameterCount { get; }

    public void Bind(int index, long value) => Check(raw.sqlite3_bind_int64(_stmt, index, value));
    public void Bind(int index, double value) => Check(raw.sqlite3_bind_double(_stmt, index, value));
    public void Bind(int index, string? value) =>
        Check(value is null ? raw.sqlite3_bind_null(_stmt, index) : raw.sqlite3_bind_text16(_stmt, index, value.AsSpan()));
    public void BindNull(int index) => Check(raw.sqlite3_bind_null(_stmt, index));

    /// <summary>Runs the statement to completion; answers the rows it changed.</summary>
    public int Execute()
    {
        try
        {
            int rc;
            while ((rc = raw.sqlite3_step(_stmt)) == raw.SQLITE_ROW) { }
            if (rc != raw.SQLITE_DONE) Check(rc);
            return raw.sqlite3_changes(_db);
        }
        finally
        {
            raw.sqlite3_reset(_stmt);
        }
    }

    /// <summary>Runs a statement that answers one integer (e.g. <c>RETURNING</c>); null when it answers no row.</summary>
    public long? ExecuteScalarInt64()
    {
        try
        {
            var rc = raw.sqlite3_step(_stmt);
            if (rc == raw.SQLITE_ROW)
            {
                var v = raw.sqlite3_column_int64(_stmt, 0);
                while ((rc = raw.sqlite3_step(_stmt)) == raw.SQLITE_ROW) { }
                if (rc != raw.SQLITE_DONE) Check(rc);
                return v;
            }
            if (rc != raw.SQLITE_DONE) Check(rc);
            return null;
        }
        finally
        {
            raw.sqlite3_reset(_stmt);
        }
    }

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK) SqliteException.ThrowExceptionForRC(rc, _db);
    }

    public void Dispose() => _stmt.Dispose();
}
