using System.CommandLine;
using System.Text.Json.Nodes;
using FineTuneLab.Cli.Api;
using FineTuneLab.Cli.Follow;
using FineTuneLab.Cli.Output;
using FineTuneLab.Cli.Submit;
using Spectre.Console;
using static FineTuneLab.Cli.Commands.CommandSupport;

namespace FineTuneLab.Cli.Commands;

/// <summary>
/// <c>ftl submit JOB.json</c>: uploads the spec's local inputs (skipping what the coordinator has), shows the plan and
/// the cost, asks (unless <c>--yes</c>), queues the job, and with <c>--follow</c> stays with it to the end.
/// </summary>
public static class SubmitCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("JOB.json") { Description = "A trainer job spec (docs/job-spec.md) or a whole POST /api/jobs body; relative paths are relative to its folder" };
        var name = new Option<string?>("--name") { Description = "Job name (default: the spec's name)" };
        var project = new Option<string?>("--project") { Description = "Project the job and its spend belong to" };
        var priority = new Option<int?>("--priority") { Description = "Higher runs first (default 0)" };
        var budgetUsd = new Option<double?>("--budget-usd") { Description = "Stop (with a checkpoint) before the spend would cross this many USD" };
        var maxHours = new Option<double?>("--max-hours") { Description = "Stop (with a checkpoint) before this many hours on a node" };
        var gpu = new Option<string[]>("--gpu") { Description = "Run only on GPUs of this kind, e.g. A100, H100 (repeatable)", AllowMultipleArgumentsPerToken = true };
        var maxPrice = new Option<double?>("--max-price") { Description = "Run only on nodes that cost at most this many USD per hour" };
        var minGpuMemory = new Option<double?>("--min-gpu-memory-gb") { Description = "Run only on GPUs with at least this much memory" };
        var device = new Option<string?>("--device") { Description = "auto, cpu or cuda (default: the file's, else auto)" };
        device.AcceptOnlyFromAmong("auto", "cpu", "cuda");
        var dryRun = new Option<bool>("--dry-run") { Description = "Upload the inputs, validate and show the plan and cost; queue nothing" };
        var yes = new Option<bool>("--yes", "-y") { Description = "Submit without asking (needed when stdin is not a terminal)" };
        var follow = new Option<bool>("--follow", "-f") { Description = "Then follow the job live to its end; exit 0 only if it succeeded (Ctrl-C detaches)" };
        var json = new Option<bool>("--json") { Description = "Print one JSON document (the submit answer with the uploads; with --follow, the final job) and nothing else" };
        var command = new Command("submit", "Upload a job's local inputs, show its plan and cost, submit it, and optionally follow it to the end")
        {
            file, name, project, priority, budgetUsd, maxHours, gpu, maxPrice, minGpuMemory, device, dryRun, yes, follow, json,
        };
        command.SetClientAction(async (parse, client, ct) =>
        {
            var asJson = parse.GetValue(json);
            var job = JobFile.Load(parse.GetValue(file)!);
            job.Apply(new SubmitSettings(parse.GetValue(name), parse.GetValue(project), parse.GetValue(priority), parse.GetValue(budgetUsd), parse.GetValue(maxHours),
                parse.GetValue(device), parse.GetValue(gpu) ?? [], parse.GetValue(maxPrice), parse.GetValue(minGpuMemory)));
            var confirm = !parse.GetValue(yes) && !parse.GetValue(dryRun);
            if (confirm && (Console.IsInputRedirected || asJson))
                throw new UsageException("ftl submit asks before it queues a job, and cannot ask here (stdin is not a terminal, or --json): pass --yes");

            var notes = new List<string>();
            var inputs = LocalInputs.Find(job, notes);
            var uploads = await new ArtifactUploader(client).UploadAsync(inputs, asJson ? _ => { } : m => Terminal.Markup($"[grey]· {Markup.Escape(m)}[/]"), ct);

            // With --yes the real submit validates and answers the plan itself; otherwise a dry run shows it first.
            JsonNode? answer = null;
            if (!parse.GetValue(yes) || parse.GetValue(dryRun))
            {
                answer = await client.SendJsonAsync(HttpMethod.Post, "api/jobs?dry_run=true", job.Body, ct);
                if (!asJson) PlanView.Print(job, uploads, notes, answer);
                if (parse.GetValue(dryRun))
                {
                    if (asJson) Terminal.Json(WithUploads(answer, uploads));
                    else Terminal.Markup("[green]valid[/] (dry run: nothing queued)");
                    return ExitCodes.Ok;
                }
                if (!await new ConfirmationPrompt("Submit this job?").ShowAsync(Terminal.Out, ct))
                {
                    Terminal.Line("not submitted");
                    return ExitCodes.Failed;
                }
            }
            var submitted = await client.SendJsonAsync(HttpMethod.Post, "api/jobs", job.Body, ct);
            var id = Format.Str(submitted["id"]) ?? throw new CliFailure($"the coordinator accepted the job but answered no id: {submitted.ToJsonString()}");
            if (!asJson)
            {
                if (answer is null) PlanView.Print(job, uploads, notes, submitted);
                Terminal.Markup($"[green]submitted[/] {Markup.Escape(id)} ({Markup.Escape(Format.Or(Format.Str(submitted["state"])))}); dashboard: {Markup.Escape(client.DashboardUrl(id))}");
            }
            if (!parse.GetValue(follow))
            {
                if (asJson) Terminal.Json(WithUploads(submitted, uploads));
                return ExitCodes.Ok;
            }
            if (asJson) return await FollowQuietlyAsync(client, id, ct);
            return await JobFollower.FollowAsync(client, id, ct);
        });
        return command;
    }

    /// <summary><c>--follow --json</c>: waits for the end without drawing anything, then prints the final job.</summary>
    private static async Task<int> FollowQuietlyAsync(CoordinatorClient client, string id, CancellationToken ct)
    {
        while (true)
        {
            var job = await client.GetJsonAsync(JobPath(id), ct);
            if (JobText.IsTerminal(Format.Str(job["state"])))
            {
                Terminal.Json(job);
                return Format.Str(job["state"]) == "succeeded" ? ExitCodes.Ok : ExitCodes.Failed;
            }
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }

    private static JsonNode WithUploads(JsonNode answer, IEnumerable<ArtifactUploader.Result> uploads)
    {
        var o = answer.DeepClone() as JsonObject ?? new JsonObject { ["answer"] = answer.DeepClone() };
        o["uploads"] = new JsonArray(uploads.Select(u => (JsonNode)new JsonObject
        {
            ["field"] = u.Field, ["path"] = u.LocalPath, ["name"] = u.Name, ["sha256"] = u.Sha256, ["bytes"] = u.Bytes, ["uploaded"] = u.Uploaded,
        }).ToArray());
        return o;
    }
}
