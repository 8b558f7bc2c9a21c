using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Blobs;
using FineTuneLab.Coordinator.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary>A submission: the trainer's spec (docs/job-spec.md), where it may run, its budget and anomaly policy.</summary>
/// <param name="Resources">Kept as given with the job (device, min_gpu_memory_gb, max_price_per_hour).</param>
public sealed record JobRequest(string? Name, string? Project, int? Priority, JsonObject? Spec, JsonObject? Resources, BudgetRequest? Budget,
    JsonNode? AnomalyPolicy)
{
    /// <summary>What the body may hold (<see cref="StrictBodies"/>); the spec's own fields are ftl-train's to check, the policy's its parser's.</summary>
    public static readonly JsonShape Shape = JsonShape.Object(
        ("name", JsonShape.Text(200)),
        ("project", JsonShape.Text(100)),
        ("priority", JsonShape.Integer(-1000, 1000)),
        ("spec", JsonShape.CheckedElsewhere),
        ("resources", JsonShape.Object(
            ("device", JsonShape.Text(8, "auto", "cpu", "cuda")),
            ("min_gpu_memory_gb", JsonShape.Number(0, 16_384)),
            ("gpu_kinds", JsonShape.Array(JsonShape.Text(100), 64)),
            ("max_price_per_hour", JsonShape.Number(0, 10_000)))),
        ("budget", BudgetRequest.Shape),
        ("anomaly_policy", JsonShape.CheckedElsewhere));
}

public sealed record BudgetRequest(double? MaxUsd, double? MaxHours)
{
    /// <summary>A budget above zero and below what no run reaches (a million USD, ten years).</summary>
    public static readonly JsonShape Shape = JsonShape.Object(
        ("max_usd", JsonShape.Number(0, 1_000_000, minExclusive: true)),
        ("max_hours", JsonShape.Number(0, 87_600, minExclusive: true)))
        .WithAliases(("max_dollars", "max_usd"), ("max_cost", "max_usd"), ("max_cost_usd", "max_usd"), ("usd", "max_usd"), ("max_time", "max_hours"));
}

/// <summary>A queued job and the trainer's plan of it.</summary>
public sealed record JobAccepted(string Id, string State, JsonNode Plan, JsonObject Projection);

/// <summary>The answer of a dry run: the spec is valid, the trainer's plan (JSON, or the validator's text when no plan
/// could be made) and the cost projection before the job runs (docs/api.md).</summary>
public sealed record JobValidated(bool Valid, JsonNode Plan, JsonObject Projection);

/// <summary><c>POST /api/jobs</c> (validated by ftl-train, then queued), <c>GET /api/jobs</c>, <c>GET /api/jobs/{id}</c>.</summary>
public static class JobsEndpoints
{
    public static void MapJobs(this RouteGroupBuilder jobs)
    {
        jobs.MapPost("", Submit).WithSummary("Validate and queue a job (dry_run=true validates only)").StrictBody(JobRequest.Shape, "job", ContentProblemsOfMisshapenBody);
        jobs.MapGet("", List).WithSummary("List jobs (state, q, project, limit, offset)").Query("state", "Only jobs in this state", JobStates.All);
        jobs.MapGet("/{id}", Get).WithSummary("A job: state, cost, progress, error");
    }

    private static Results<Ok<JobList>, ProblemHttpResult> List(JobStore jobs, CoordinatorRuntime rt, string? state, string? q, string? project,
        int? limit, int? offset)
    {
        if (QueryChecks.First(QueryChecks.OneOf("state", state, JobStates.All), QueryChecks.Text("q", q), QueryChecks.Text("project", project),
                QueryChecks.Range("limit", limit, 1, 1000), QueryChecks.Range("offset", offset, 0, int.MaxValue)) is { } problem)
            return BadRequest(problem);
        var (rows, total) = jobs.List(state, q, project, limit ?? 50, offset ?? 0);
        return TypedResults.Ok(new JobList(rows.Select(j => JobView.ListItem(rt.Store, j)).ToList(), total));
    }

    private static Results<Ok<JobDetail>, ProblemHttpResult> Get(string id, JobStore jobs, CoordinatorRuntime rt) =>
        jobs.Get(id) is { } job ? TypedResults.Ok(JobView.Full(rt, job)) : NotFound($"job {id} not found");

    private static async Task<Results<Created<JobAccepted>, Ok<JobValidated>, ProblemHttpResult>> Submit(JobRequest body,
        [FromQuery(Name = "dry_run")] bool? dryRun, CoordinatorRuntime rt, BlobStore blobs, IOptions<CoordinatorOptions> options, ValidatorSlots slots,
        HttpContext http, CancellationToken cancellationToken)
    {
        // Types, ranges and names of the body's fields were checked against JobRequest.Shape before it was bound.
        // The validator and the planner are child processes: at most a CPU's worth at once, a short queue, then 429.
        using var slot = await slots.TryEnterAsync(cancellationToken);
        if (slot is null)
        {
            http.Response.Headers.RetryAfter = ValidatorSlots.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Problem(StatusCodes.Status429TooManyRequests,
                $"too many job validations at once ({slots.Capacity} running or waiting); retry in {ValidatorSlots.RetryAfterSeconds} s");
        }
        ContentCheck check;
        try
        {
            check = await CheckContentAsync(body.Spec, body.AnomalyPolicy, blobs, options.Value, cancellationToken);
        }
        catch (InvalidOperationException e)
        {
            return Problem(StatusCodes.Status500InternalServerError, e.Message);
        }
        if (check.Problems.Count > 0 || body.Spec is not { } spec || check.Validation is not { } validation)
            return BadRequest(InvalidJob(check.Problems.Count), check.Problems);
        var resources = body.Resources ?? new JsonObject();
        // The policy is coordinator-only (the trainer never sees it): it is kept with the job's resources.
        if (check.Policy.Actions.Count > 0) resources[Anomalies.AnomalyWatcher.JobPolicyKey] = check.Policy.ToJson();
        var (maxUsd, maxHours) = (body.Budget?.MaxUsd, body.Budget?.MaxHours);
        double? Num(string name) => resources[name] is JsonValue v && v.TryGetValue<double>(out var d) ? d : null;
        var minMemory = JobResources.MinMemoryBytes(Num("min_gpu_memory_gb"));
        var dry = await DryRunProjection.ComputeAsync(rt, spec, JobResources.Requirements(resources, minMemory, Num("max_price_per_hour")),
            maxUsd, maxHours, cancellationToken);
        slot.Dispose();
        var plan = dry.Plan ?? JsonValue.Create(validation.Output.Trim());
        if (dryRun == true) return TypedResults.Ok(new JobValidated(true, plan, dry.Projection));
        var specName = spec["name"] is JsonValue n && n.TryGetValue<string>(out var named) ? named : null;
        var id = rt.Jobs.Create(new JobSubmission(body.Name ?? specName ?? "job", body.Project ?? "", body.Priority ?? 0,
            spec.ToJsonString(), resources.ToJsonString(), maxUsd, maxHours, minMemory, Num("max_price_per_hour")));
        rt.Wake();
        return TypedResults.Created($"/api/jobs/{id}", new JobAccepted(id, JobStates.Queued, plan, dry.Projection));
    }

    private static string InvalidJob(int problems) => $"invalid job ({problems} problem{(problems == 1 ? "" : "s")})";

    /// <summary>What a submission's content says beyond its shape: the problems, the parsed anomaly policy, the trainer's validation (null without a spec).</summary>
    private sealed record ContentCheck(List<FieldProblem> Problems, Anomalies.AnomalyPolicy Policy, SpecValidator.Result? Validation);

    /// <summary>
    /// The checks of a submission that its shape cannot make: the spec is there, its artifacts are in the blob store,
    /// <c>ftl-train validate</c> accepts it (every field with its line), the anomaly policy's kinds and actions. The
    /// caller holds a <see cref="ValidatorSlots"/> slot. Throws <see cref="InvalidOperationException"/> when the
    /// validator cannot run.
    /// </summary>
    private static async Task<ContentCheck> CheckContentAsync(JsonNode? spec, JsonNode? anomalyPolicy, BlobStore blobs, CoordinatorOptions options,
        CancellationToken cancellationToken)
    {
        var problems = new List<FieldProblem>();
        var policyProblems = new List<(string Path, string Message)>();
        var policy = Anomalies.AnomalyPolicy.ParseJson(anomalyPolicy, "$.anomaly_policy", policyProblems);
        problems.AddRange(policyProblems.Select(p => new FieldProblem(p.Path, p.Message)));
        if (spec is not JsonObject specObject)
        {
            if (spec is null) problems.Add(new FieldProblem("$.spec", "required: the trainer's job spec (docs/job-spec.md)"));
            return new ContentCheck(problems, policy, null);
        }
        foreach (var sha in AssignmentBuilder.ArtifactRefs(specObject.ToJsonString()))
            if (!blobs.Exists(sha)) problems.Add(new FieldProblem("$.spec", $"artifact:{sha} is not in the blob store (POST /api/artifacts first)"));
        var validation = await new SpecValidator(SpecValidator.Resolve(options.TrainerCommand))
            .ValidateAsync(specObject.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }), cancellationToken);
        problems.AddRange(validation.Problems);
        return new ContentCheck(problems, policy, validation);
    }

    /// <summary>
    /// When the body's shape fails, its content is still checked (a slot free, the validator at hand), so that one
    /// answer lists every problem: a misspelt budget field and the spec's own mistakes together.
    /// </summary>
    private static async Task<IReadOnlyList<FieldProblem>> ContentProblemsOfMisshapenBody(HttpContext http, JsonNode body)
    {
        if (body is not JsonObject o) return [];
        var services = http.RequestServices;
        using var slot = await services.GetRequiredService<ValidatorSlots>().TryEnterAsync(http.RequestAborted);
        if (slot is null) return [];
        try
        {
            // A policy or spec of the wrong type was already reported by the shape.
            return (await CheckContentAsync(o["spec"], o["anomaly_policy"] as JsonObject,
                services.GetRequiredService<BlobStore>(), services.GetRequiredService<IOptions<CoordinatorOptions>>().Value, http.RequestAborted)).Problems;
        }
        catch (InvalidOperationException)
        {
            return [];
        }
    }
}
