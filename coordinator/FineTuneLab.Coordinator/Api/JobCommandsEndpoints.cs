using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Shared.Protos.Agent.V1;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary><c>POST /api/jobs/{id}/stop|pause|resume|cancel</c>: moves the job or orders its agent to.</summary>
public static class JobCommandsEndpoints
{
    public static void MapJobCommands(this IEndpointRouteBuilder endpoints, Func<CoordinatorRuntime?> runtime)
    {
        foreach (var verb in new[] { "stop", "pause", "resume", "cancel" })
        {
            endpoints.MapPost($"/api/jobs/{{id}}/{verb}", With(runtime, async (http, rt) =>
            {
                if (rt.Jobs.Get(RouteId(http)) is not { } job) { await Error(http, 404, $"job {RouteId(http)} not found"); return; }
                JsonObject? body = null;
                if (http.Request.ContentLength is > 0)
                {
                    using var reader = new StreamReader(http.Request.Body);
                    body = ParseJson(await reader.ReadToEndAsync()) as JsonObject;
                }
                var error = Apply(rt, job, verb, body);
                if (error is not null) { await Error(http, 409, error); return; }
                await Write(http, JobView.Summary(rt.Jobs.Get(job.Id)!), 202);
            }));
        }
    }

    /// <summary>Applies a user command; answers why it cannot apply in the job's current state, or null.</summary>
    public static string? Apply(CoordinatorRuntime rt, JobRow job, string verb, JsonObject? body)
    {
        // Stored until the agent acks it: delivered now, or when the agent reconnects. Answers whether it went out now.
        bool Send(CommandKind kind) => job.AgentId is { } a && rt.Commands.Issue(a, job.Id, kind, "user");
        switch (verb, job.State)
        {
            case ("stop", JobStates.Queued):
                rt.Jobs.TryUserMove(job.Id, JobStates.Queued, JobStates.Stopped, "user");
                return null;
            case ("stop", JobStates.Assigned or JobStates.Running or JobStates.Paused):
                rt.Jobs.TryUserMove(job.Id, job.State, JobStates.Stopping, "user");
                Send(CommandKind.Stop);
                return null;
            case ("pause", JobStates.Running):
                Send(CommandKind.Pause);
                return null;
            case ("resume", JobStates.Paused):
                Send(CommandKind.Resume);
                return null;
            case ("resume", JobStates.Stopped or JobStates.Failed):
                var budget = body?["budget"] as JsonObject;
                double? Num(string n) => budget?[n] is JsonValue v && v.TryGetValue<double>(out var d) ? d : null;
                rt.Jobs.TryUserMove(job.Id, job.State, JobStates.Queued, null, Num("max_usd"), Num("max_hours"));
                rt.Wake();
                return null;
            case ("cancel", JobStates.Queued):
                rt.Jobs.TryUserMove(job.Id, JobStates.Queued, JobStates.Cancelled, "cancelled");
                return null;
            case ("cancel", JobStates.Assigned or JobStates.Running or JobStates.Paused or JobStates.Stopping):
                // Cut off from its agent, the job is cancelled at once; the stored command still kills the trainer
                // when the agent reconnects (its final report then frees the agent).
                if (!Send(CommandKind.Cancel))
                    rt.Jobs.TryUserMove(job.Id, job.State, JobStates.Cancelled, "cancelled");
                return null;
            default:
                return $"cannot {verb} a job that is {job.State}";
        }
    }
}
