using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Scheduling;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>The <c>resources</c> object of a job submission as the scheduler reads it.</summary>
public static class JobResources
{
    public static JobRequirements Requirements(JobRow job)
    {
        var r = JsonNode.Parse(job.ResourcesJson) as JsonObject ?? [];
        var device = r["device"]?.GetValue<string>() ?? "auto";
        var kinds = (r["gpu_kinds"] as JsonArray)?.Select(k => k!.GetValue<string>()).ToList() ?? [];
        return new JobRequirements(job.MinMemoryBytes, device == "cuda", kinds, job.MaxPricePerHour);
    }
}
