using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Shared.Protos.Agent.V1;
using Microsoft.AspNetCore.Http.HttpResults;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary>The optional body of a command: a resume may raise the budget.</summary>
public sealed record CommandRequest(BudgetRequest? Budget)
{
    public static readonly JsonShape Shape = JsonShape.Object(("budget", BudgetRequest.Shape));
}

/// <summary><c>POST /api/jobs/{id}/stop|pause|resume|cancel</c>: moves the job or orders its agent to.</summary>
public static class JobCommandsEndpoints
{
    private static readonly (string Verb, string Summary)[] Verbs =
    [
        ("stop", "Checkpoint and stop"), ("pause", "Pause"),
        ("resume", "Resume a paused job, or re-queue a stopped one from its last checkpoint (body: {budget: {max_usd, max_hours}})"),
        ("cancel", "Stop without a checkpoint"),
    ];

    public static void MapJobCommands(this RouteGroupBuilder jobs)
    {
        foreach (var (verb, summary) in Verbs)
            jobs.MapPost($"/{{id}}/{verb}", (string id, CommandRequest? body, CoordinatorRuntime rt) => Command(id, verb, body, rt)).WithSummary(summary)
                .StrictBody(CommandRequest.Shape, "command", required: false);
    }

    private static Results<Accepted<JobSummary>, ProblemHttpResult> Command(string id, string verb, CommandRequest? body, CoordinatorRuntime rt)
    {
        if (rt.Jobs.Get(id) is not { } job) return NotFound($"job {id} not found");
        if (Apply(rt, job, verb, body?.Budget) is { } error) return Problem(StatusCodes.Status409Conflict, error);
        return TypedResults.Accepted((string?)null, JobView.Summary(rt.Jobs.Get(job.Id)!));
    }

    /// <summary>Applies a user command; answers why it cannot apply in the job's current state, or null.</summary>
    public static string? Apply(CoordinatorRuntime rt, JobRow job, string verb, BudgetRequest? budget)
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
                rt.Jobs.TryUserMove(job.Id, job.State, JobStates.Queued, null, budget?.MaxUsd, budget?.MaxHours);
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
