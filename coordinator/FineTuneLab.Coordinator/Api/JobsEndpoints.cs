using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Jobs;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary><c>POST /api/jobs</c> (validated by ftl-train, then queued), <c>GET /api/jobs</c>, <c>GET /api/jobs/{id}</c>.</summary>
public static class JobsEndpoints
{
    public static void MapJobs(this IEndpointRouteBuilder endpoints, Func<CoordinatorRuntime?> runtime)
    {
        endpoints.MapPost("/api/jobs", With(runtime, Submit));
        endpoints.MapGet("/api/jobs", With(runtime, async (http, rt) =>
        {
            var state = Query(http, "state");
            if (state is not null && !JobStates.All.Contains(state))
            {
                await Error(http, 400, $"state '{state}' is not one of {string.Join(", ", JobStates.All)}");
                return;
            }
            var (jobs, total) = rt.Jobs.List(state, Query(http, "q"), Query(http, "project"), Math.Clamp(QueryInt(http, "limit", 50), 1, 1000), Math.Max(0, QueryInt(http, "offset", 0)));
            await Write(http, new JsonObject { ["jobs"] = new JsonArray(jobs.Select(j => (JsonNode)JobView.ListItem(rt.Store, j)).ToArray()), ["total"] = total });
        }));
        endpoints.MapGet("/api/jobs/{id}", With(runtime, async (http, rt) =>
        {
            if (rt.Jobs.Get(RouteId(http)) is not { } job) { await Error(http, 404, $"job {RouteId(http)} not found"); return; }
            await Write(http, JobView.Full(rt, job));
        }));
    }

    private static async Task Submit(HttpContext http, CoordinatorRuntime rt)
    {
        JsonObject body;
        try
        {
            using var reader = new StreamReader(http.Request.Body);
            body = ParseJson(await reader.ReadToEndAsync(http.RequestAborted)) as JsonObject ?? throw new System.Text.Json.JsonException("the body is not a JSON object");
        }
        catch (System.Text.Json.JsonException e)
        {
            await Error(http, 400, $"invalid JSON body: {e.Message}");
            return;
        }
        var problems = new JsonArray();
        if (body["spec"] is not JsonObject spec)
        {
            await Error(http, 400, "invalid job", [new JsonObject { ["path"] = "$.spec", ["message"] = "required: the trainer's job spec (docs/job-spec.md)" }]);
            return;
        }
        var resources = body["resources"] as JsonObject ?? new JsonObject();
        var device = resources["device"]?.GetValue<string>() ?? "auto";
        if (device is not ("auto" or "cpu" or "cuda")) problems.Add(new JsonObject { ["path"] = "$.resources.device", ["message"] = $"must be auto, cpu or cuda (got {device})" });
        var budget = body["budget"] as JsonObject;
        double? Num(JsonNode? n) => n is JsonValue v && v.TryGetValue<double>(out var d) ? d : null;
        var maxUsd = Num(budget?["max_usd"]);
        var maxHours = Num(budget?["max_hours"]);
        if (maxUsd is <= 0) problems.Add(new JsonObject { ["path"] = "$.budget.max_usd", ["message"] = "must be positive" });
        if (maxHours is <= 0) problems.Add(new JsonObject { ["path"] = "$.budget.max_hours", ["message"] = "must be positive" });
        var policyProblems = new List<(string Path, string Message)>();
        var anomalyPolicy = Anomalies.AnomalyPolicy.ParseJson(body["anomaly_policy"], "$.anomaly_policy", policyProblems);
        foreach (var (path, message) in policyProblems) problems.Add(new JsonObject { ["path"] = path, ["message"] = message });
        // The policy is coordinator-only (the trainer never sees it): it is kept with the job's resources.
        if (anomalyPolicy.Actions.Count > 0) resources[Anomalies.AnomalyWatcher.JobPolicyKey] = anomalyPolicy.ToJson();
        foreach (var sha in AssignmentBuilder.ArtifactRefs(spec.ToJsonString()))
        {
            if (!rt.Blobs.Exists(sha)) problems.Add(new JsonObject { ["path"] = "$.spec", ["message"] = $"artifact:{sha} is not in the blob store (POST /api/artifacts first)" });
        }
        SpecValidator.Result validation;
        try
        {
            validation = await new SpecValidator(SpecValidator.Resolve(rt.Options.TrainerCommand)).ValidateAsync(spec.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }), http.RequestAborted);
        }
        catch (InvalidOperationException e)
        {
            await Error(http, 500, e.Message);
            return;
        }
        foreach (var p in validation.Problems) problems.Add(p!.DeepClone());
        if (problems.Count > 0)
        {
            await Error(http, 400, $"invalid job ({problems.Count} problem{(problems.Count == 1 ? "" : "s")})", problems);
            return;
        }
        var dry = await DryRunProjection.ComputeAsync(rt, spec, JobResources.Requirements(resources, JobResources.MinMemoryBytes(Num(resources["min_gpu_memory_gb"])), Num(resources["max_price_per_hour"])),
            maxUsd, maxHours, http.RequestAborted);
        var plan = dry.Plan ?? validation.Output.Trim();
        if (Query(http, "dry_run") == "true")
        {
            await Write(http, new JsonObject { ["valid"] = true, ["plan"] = plan, ["projection"] = dry.Projection });
            return;
        }
        var id = rt.Jobs.Create(new JobSubmission(
            body["name"]?.GetValue<string>() ?? spec["name"]?.GetValue<string>() ?? "job",
            body["project"]?.GetValue<string>() ?? "",
            (int)(Num(body["priority"]) ?? 0),
            spec.ToJsonString(),
            resources.ToJsonString(),
            maxUsd, maxHours,
            JobResources.MinMemoryBytes(Num(resources["min_gpu_memory_gb"])),
            Num(resources["max_price_per_hour"])));
        rt.Wake();
        await Write(http, new JsonObject { ["id"] = id, ["state"] = JobStates.Queued, ["plan"] = plan, ["projection"] = dry.Projection }, 201);
    }
}
