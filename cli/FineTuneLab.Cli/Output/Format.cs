using System.Globalization;
using System.Text.Json.Nodes;

namespace FineTuneLab.Cli.Output;

/// <summary>How numbers, money, times and optional JSON values read in tables and progress lines.</summary>
public static class Format
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string? Str(JsonNode? n) => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    /// <summary>A number, or null; the trainer writes non-finite values as the strings "NaN"/"Infinity".</summary>
    public static double? Num(JsonNode? n) => n is JsonValue v
        ? v.TryGetValue<double>(out var d) ? d
        : v.TryGetValue<string>(out var s) && double.TryParse(s, NumberStyles.Float, Inv, out var p) ? p : null
        : null;

    public static long? Int(JsonNode? n) => Num(n) is { } d ? (long)d : null;

    public static string Usd(double? usd) => usd switch
    {
        null => "-",
        < 0.01 and > -0.01 when usd != 0 => "$" + usd.Value.ToString("0.000000", Inv),
        _ => "$" + usd.Value.ToString("0.00", Inv),
    };

    public static string Number(double? value, string format = "0.####") => value is { } v ? v.ToString(format, Inv) : "-";

    public static string Duration(double? seconds)
    {
        if (seconds is not { } s || !double.IsFinite(s) || s < 0) return "-";
        var t = TimeSpan.FromSeconds(Math.Round(s));
        return t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m" : t.TotalMinutes >= 1 ? $"{t.Minutes}m{t.Seconds:00}s" : $"{t.Seconds}s";
    }

    public static string Bytes(double? bytes) => bytes switch
    {
        null => "-",
        >= 1L << 30 => (bytes.Value / (1L << 30)).ToString("0.0", Inv) + " GiB",
        >= 1L << 20 => (bytes.Value / (1L << 20)).ToString("0.0", Inv) + " MiB",
        >= 1L << 10 => (bytes.Value / (1L << 10)).ToString("0.0", Inv) + " KiB",
        _ => bytes.Value.ToString("0", Inv) + " B",
    };

    /// <summary>An ISO 8601 time from the API as local "yyyy-MM-dd HH:mm:ss", or "-".</summary>
    public static string Time(JsonNode? n) =>
        Str(n) is { } s && DateTimeOffset.TryParse(s, Inv, DateTimeStyles.AssumeUniversal, out var t) ? t.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", Inv) : "-";

    public static string Or(string? s, string fallback = "-") => string.IsNullOrEmpty(s) ? fallback : s;
}
