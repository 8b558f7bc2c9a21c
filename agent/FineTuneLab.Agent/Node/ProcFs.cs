using System.Globalization;

namespace FineTuneLab.Agent.Node;

/// <summary>Small readers of Linux /proc files; a missing file (another OS, a sandbox) reads as nothing.</summary>
internal static class ProcFs
{
    public static IEnumerable<string> ReadLines(string path)
    {
        try { return File.ReadAllLines(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }

    /// <summary>A field of /proc/meminfo ("MemTotal", "MemAvailable") in bytes.</summary>
    public static long? MemInfoBytes(string field) => KibField(ReadLines("/proc/meminfo"), field);

    /// <summary>A process's resident set size in bytes (VmRSS of /proc/PID/status), or null when it is gone.</summary>
    public static long? ProcessRssBytes(int pid) => KibField(ReadLines($"/proc/{pid}/status"), "VmRSS");

    /// <summary>The aggregate "cpu" line of /proc/stat as (busy, total) jiffies.</summary>
    public static (ulong Busy, ulong Total)? CpuJiffies()
    {
        var line = ReadLines("/proc/stat").FirstOrDefault(l => l.StartsWith("cpu ", StringComparison.Ordinal));
        if (line is null) return null;
        var values = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(v => ulong.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        if (values.Length < 4) return null;
        ulong total = 0;
        foreach (var v in values.Take(8)) total += v; // user nice system idle iowait irq softirq steal
        var idle = values[3] + (values.Length > 4 ? values[4] : 0);
        return (total - idle, total);
    }

    private static long? KibField(IEnumerable<string> lines, string field)
    {
        foreach (var line in lines)
        {
            if (!line.StartsWith(field, StringComparison.Ordinal) || line.Length <= field.Length || line[field.Length] != ':') continue;
            var parts = line[(field.Length + 1)..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length > 0 && long.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var kib))
                return kib * 1024;
        }
        return null;
    }
}
