using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Shared.Jobs;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Coordinator.Scheduling;

/// <summary>
/// What happens to a job that just failed on its agent: its failure is classified by the coordinator's rules (the
/// user's <c>--failure-rules</c> before the built-in table: exit code, signal, the trainer's last error), and a
/// retryable class (a node error, the kernel's OOM killer, a crash) re-queues it to resume from its last uploaded
/// checkpoint, counting a restart, while restarts are left (a <c>requeued</c> event keeps the failure). Other classes
/// stay failed, with the class and advice in the job's error.
/// </summary>
public sealed class FailureRetry(CoordinatorRuntime runtime)
{
    public void Handle(JobRow job)
    {
        if (job.State != JobStates.Failed || job.ErrorJson is null || JsonNode.Parse(job.ErrorJson) is not JsonObject error) return;
        int Int(string name) => error[name] is JsonValue v && v.TryGetValue<int>(out var i) ? i : 0;
        string? Text(string name) => error[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        var cls = runtime.Failures.Classify(Int("exit_code"), Int("signal"), Text("message"), Text("stack_trace"));
        error["class"] = cls.Class;
        error["advice"] = cls.Advice;
        error["retryable"] = cls.Action == FailureAction.Retry;
        var why = $"re-queued: the trainer failed with a retryable {cls.Class} (restart {job.Restarts + 1} of {runtime.Jobs.MaxRestarts})";
        if (cls.Action == FailureAction.Retry && runtime.Jobs.RequeueRetryable(job.Id, why, error))
        {
            runtime.Log.LogWarning("job {Job} failed with retryable class {Class}: re-queued to resume from its last checkpoint (restart {Restart} of {Max})",
                job.Id, cls.Class, job.Restarts + 1, runtime.Jobs.MaxRestarts);
            runtime.Wake();
            return;
        }
        runtime.Jobs.SetError(job.Id, error.ToJsonString());
    }
}
