using System.Globalization;
using Google.Protobuf.WellKnownTypes;

namespace FineTuneLab.Coordinator.Store;

/// <summary>
/// <c>telemetry.at</c> is stored as INTEGER unix milliseconds (migration 4): a smaller index and no per-row text
/// formatting on ingest. Readers render it as ISO-8601 UTC with <see cref="ToIso"/>, as every other time in the API.
/// </summary>
public static class TelemetryTime
{
    public static long ToUnixMilliseconds(Timestamp? at) =>
        at is null ? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() : at.Seconds * 1000 + at.Nanos / 1_000_000;

    public static long ToUnixMilliseconds(DateTimeOffset at) => at.ToUnixTimeMilliseconds();

    /// <summary>The API's rendering of a stored <c>telemetry.at</c>, e.g. <c>2026-11-22T00:52:48.123Z</c>.</summary>
    public static string ToIso(long unixMilliseconds) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMilliseconds).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
