using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>Builds what an agent needs to run a job: the spec, every <c>artifact:&lt;sha&gt;</c> it refers to, the frozen price and the budget.</summary>
public static class AssignmentBuilder
{
    public const string ArtifactPrefix = FineTuneLab.Shared.Jobs.SpecArtifacts.Prefix;
    public const string ResumeArtifactName = "resume-checkpoint.tar";

    /// <summary>The SHA-256 of every string value of the spec of the form <c>artifact:&lt;sha&gt;</c>.</summary>
    public static IReadOnlyList<string> ArtifactRefs(string specJson)
    {
        var found = new List<string>();
        void Walk(JsonNode? node)
        {
            switch (node)
            {
                case JsonObject o: foreach (var (_, v) in o) Walk(v); break;
                case JsonArray a: foreach (var v in a) Walk(v); break;
                case JsonValue v when v.TryGetValue<string>(out var s) && s.StartsWith(ArtifactPrefix, StringComparison.Ordinal):
                    found.Add(s[ArtifactPrefix.Length..]); break;
            }
        }
        Walk(JsonNode.Parse(specJson, documentOptions: new System.Text.Json.JsonDocumentOptions { CommentHandling = System.Text.Json.JsonCommentHandling.Skip, AllowTrailingCommas = true }));
        return found.Distinct().ToList();
    }

    public static JobAssignment Build(CoordinatorStore store, JobRow job)
    {
        var assignment = new JobAssignment
        {
            JobId = job.Id,
            SpecJson = job.SpecJson,
            PricePerHourUsd = job.PricePerHour ?? 0,
            Budget = new Budget { MaxUsd = job.BudgetUsd ?? 0, MaxHours = job.BudgetHours ?? 0 },
            SpentUsdBefore = job.SpentBeforeUsd,
            HoursBefore = job.HoursBefore,
            Device = JsonNode.Parse(job.ResourcesJson)?["device"]?.GetValue<string>() ?? "auto",
        };
        foreach (var sha in ArtifactRefs(job.SpecJson))
        {
            var row = ArtifactRows.Find(store, sha);
            assignment.Artifacts.Add(new ArtifactRef { Sha256 = sha, Name = row?.Name ?? sha, SizeBytes = (ulong)(row?.Size ?? 0) });
        }
        if (job.ResumeCheckpoint is { } resume)
        {
            var size = ArtifactRows.CheckpointBytes(store, resume);
            assignment.Artifacts.Add(new ArtifactRef { Sha256 = resume, Name = ResumeArtifactName, SizeBytes = (ulong)size });
            assignment.ResumeCheckpoint = resume;
        }
        return assignment;
    }
}
