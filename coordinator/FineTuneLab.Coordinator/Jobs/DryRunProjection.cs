using System.Globalization;
using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Scheduling;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Events;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>
/// What a job would cost before it runs (<c>POST /api/jobs?dry_run=true</c>): the place the scheduler would pick now
/// if the agents were idle, the throughput measured by earlier runs of the same model and method there (on the same
/// agent, else on the same GPU model), and the trainer's own plan of steps, tokens, hours and cost at that throughput
/// and the agent's price. Once the job runs, <see cref="JobProjection.Cost"/> takes over with its own throughput.
/// </summary>
public static class DryRunProjection
{
    /// <summary>How many of the newest matching runs the throughput is the median of.</summary>
    private const int Runs = 5;

    public sealed record Result(JsonNode? Plan, JsonObject Projection);

    public static async Task<Result> ComputeAsync(CoordinatorRuntime rt, JsonObject spec, JobRequirements requirements,
        double? budgetUsd, double? budgetHours, CancellationToken cancellationToken)
    {
        var projection = new JsonObject();
        var agents = rt.Agents.Capacities(rt.Sessions.Connected, asIfIdle: true);
        var outcome = Scheduler.Plan([new QueuedJob("dry-run", 0, DateTimeOffset.UtcNow, requirements)], agents);
        var place = outcome.Placements.FirstOrDefault();
        double? memoryGb = null, tokensPerSecond = null, price = null;
        if (place is null)
        {
            projection["reason"] = $"no agent could run it now: {outcome.Waiting[0].Reason}";
        }
        else
        {
            var agent = agents.First(a => a.AgentId == place.AgentId);
            var gpu = agent.FreeGpus.FirstOrDefault(g => g.Index == place.GpuIndex);
            price = place.PricePerHour;
            memoryGb = (gpu?.MemoryTotalBytes ?? agent.HostMemoryFreeBytes) / (double)(1L << 30);
            projection["agent_id"] = agent.AgentId;
            projection["agent_name"] = agent.Name;
            projection["gpu_index"] = place.GpuIndex;
            projection["gpu_name"] = gpu?.Name;
            projection["rate_usd_per_hour"] = price;
            (tokensPerSecond, var basis) = Throughput(rt, spec, agent, gpu);
            projection["tokens_per_s"] = tokensPerSecond;
            projection[tokensPerSecond is null ? "reason" : "throughput_basis"] = basis;
        }

        var plan = await PlanAsync(rt, spec, memoryGb, tokensPerSecond, price, cancellationToken);
        if (plan is JsonObject p)
        {
            projection["total_steps"] = p["steps"]?["total_steps"]?.DeepClone();
            projection["total_tokens"] = p["steps"]?["total_tokens"]?.DeepClone();
            projection["hours"] = p["hours"]?.DeepClone();
            projection["cost_usd"] = p["cost"]?.DeepClone();
            projection["fits"] = p["fits"]?.DeepClone();
        }
        else if (plan is JsonValue why && place is not null)
        {
            projection["reason"] = $"{(projection["reason"] is { } r ? r + "; " : "")}no plan of steps and tokens: {why}";
            plan = null;
        }
        var caps = new List<double>();
        if (budgetUsd is { } u) caps.Add(u);
        if (budgetHours is { } h && price is { } rate) caps.Add(h * rate);
        if (caps.Count > 0)
        {
            projection["budget_cap_usd"] = caps.Min();
            if (Number(projection["cost_usd"]) is { } cost) projection["within_budget"] = cost <= caps.Min();
        }
        return new Result(plan, projection);
    }

    /// <summary>Median tokens/s of the newest earlier runs of this model and method on the agent, else on the same GPU model elsewhere.</summary>
    private static (double? TokensPerSecond, string Basis) Throughput(CoordinatorRuntime rt, JsonObject spec, AgentCapacity agent, FreeGpu? gpu)
    {
        var model = spec["model"]?["path"]?.GetValue<string>();
        var method = spec["method"]?.GetValue<string>() ?? "lora";
        if (model is null) return (null, "the spec names no model.path");
        var samples = ThroughputHistory.Of(rt.Store, model, method);
        var here = samples.Where(s => s.AgentId == agent.AgentId && (gpu is null ? s.GpuIndex is null : s.GpuIndex is not null)).ToList();
        var where = $"on {agent.Name}";
        if (here.Count == 0 && gpu is not null)
        {
            var gpuNames = rt.Agents.List().ToDictionary(a => a.Id, a => a.Inventory.Gpus.ToDictionary(g => (int)g.Index, g => g.Name));
            here = samples.Where(s => s.GpuIndex is { } i && gpuNames.TryGetValue(s.AgentId, out var names) && names.GetValueOrDefault(i) == gpu.Name).ToList();
            where = $"on {gpu.Name} GPUs";
        }
        var rates = here.Take(Runs)
            .Select(s => (s.JobId, Step: JobEvents.TypeTrainerEvent("step", s.StepJson, out _) as StepEvent))
            .Where(s => s.Step is { TokensPerS: > 0 }).ToList();
        if (rates.Count == 0)
            return (null, $"no earlier {method} run of this model {where}: the projection appears once the job reports its first steps");
        var sorted = rates.Select(r => r.Step!.TokensPerS).Order().ToList();
        var median = sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
        var jobs = string.Join(", ", rates.Select(r => r.JobId));
        return (median, $"median of the last steps of {rates.Count} earlier {method} run{(rates.Count == 1 ? "" : "s")} of this model {where} ({jobs})");
    }

    /// <summary>The trainer's plan as JSON, or a JSON string saying why there is none.</summary>
    private static async Task<JsonNode?> PlanAsync(CoordinatorRuntime rt, JsonObject spec, double? memoryGb, double? tokensPerSecond, double? price,
        CancellationToken cancellationToken)
    {
        var resolved = await PlanWorkspace.ResolveAsync(spec.ToJsonString(), rt.Blobs, rt.Options.DataDir, cancellationToken);
        if (resolved is null) return JsonValue.Create("an artifact of the spec is not in the blob store");
        var dir = Directory.CreateTempSubdirectory("ftl-plan-");
        try
        {
            var file = Path.Combine(dir.FullName, "job.json");
            await File.WriteAllTextAsync(file, resolved, cancellationToken);
            var args = new List<string> { "plan", "--config", file, "--json" };
            void Add(string name, double? value) { if (value is { } v) args.AddRange([name, v.ToString("R", CultureInfo.InvariantCulture)]); }
            Add("--gpu-memory-gb", memoryGb);
            Add("--tokens-per-s", tokensPerSecond);
            Add("--price-per-hour", price);
            var run = await TrainerProcess.RunAsync(SpecValidator.Resolve(rt.Options.TrainerCommand), args, cancellationToken);
            // Exit 1 is a plan that does not fit: still a plan. Output that is not a JSON plan (an older trainer, a
            // stand-in) is no plan, said in words, never a 500.
            if (run.ExitCode is 0 or 1 && ParsePlan(run.Stdout) is { } plan) return plan;
            var said = (run.Stderr.Length > 0 ? run.Stderr : run.Stdout).Replace(file, "spec", StringComparison.Ordinal).Trim();
            return JsonValue.Create(said.Length > 0 ? said : $"ftl-train plan gave no JSON plan (exit {run.ExitCode})");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static JsonObject? ParsePlan(string stdout)
    {
        try { return JsonNode.Parse(stdout) as JsonObject; }
        catch (System.Text.Json.JsonException) { return null; }
    }

    private static double? Number(JsonNode? node) => node is JsonValue v && v.TryGetValue<double>(out var d) ? d : null;
}
