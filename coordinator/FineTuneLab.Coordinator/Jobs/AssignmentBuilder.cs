using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>Builds what an agent needs to run a job: the spec, every <c>artifact:&lt;sha&gt;</c> it refers to, the frozen price and the budget.</summary>
public static class AssignmentBuilder
{
    public const string ArtifactPrefix = "artifact:";
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
        using var c = store.OpenConnection();
        foreach (var sha in ArtifactRefs(job.SpecJson))
        {
            var row = Sql.Query(c, "SELECT name, size_bytes FROM artifacts WHERE sha256 = $h LIMIT 1",
                r => (Name: r.GetString(0), Size: r.GetInt64(1)), ("$h", sha)).FirstOrDefault();
            assignment.Artifacts.Add(new ArtifactRef { Sha256 = sha, Name = row.Name ?? sha, SizeBytes = (ulong)row.Size });
        }
        if (job.ResumeCheckpoint is { } resume)
        {
            var size = Convert.ToInt64(Sql.Scalar(c, "SELECT bytes FROM checkpoints WHERE sha256 = $h LIMIT 1", ("$h", resume)) ?? 0L);
            assignment.Artifacts.Add(new ArtifactRef { Sha256 = resume, Name = ResumeArtifactName, SizeBytes = (ulong)size });
            assignment.ResumeCheckpoint = resume;
        }
        return assignment;
    }
}
