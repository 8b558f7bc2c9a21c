using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Scheduling;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>The <c>resources</c> object of a job submission as the scheduler reads it.</summary>
public static class JobResources
{
    public static JobRequirements Requirements(JobRow job) =>
        Requirements(JsonNode.Parse(job.ResourcesJson) as JsonObject ?? [], job.MinMemoryBytes, job.MaxPricePerHour);

    public static JobRequirements Requirements(JsonObject resources, long minMemoryBytes, double? maxPricePerHour)
    {
        var device = resources["device"]?.GetValue<string>() ?? "auto";
        var kinds = (resources["gpu_kinds"] as JsonArray)?.Select(k => k!.GetValue<string>()).ToList() ?? [];
        return new JobRequirements(minMemoryBytes, device == "cuda", kinds, maxPricePerHour);
    }

    public static long MinMemoryBytes(double? minGpuMemoryGb) => minGpuMemoryGb is { } g ? (long)(g * (1L << 30)) : 0;
}
