using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.Cli.Api;
using FineTuneLab.Cli.Output;
using Spectre.Console;
using static FineTuneLab.Cli.Commands.CommandSupport;

namespace FineTuneLab.Cli.Follow;

/// <summary>
/// Follows a job to its end over <c>GET /api/jobs/{id}/stream</c> (SSE; reconnects from the last event id when the
/// connection drops): a live view on a terminal, one line per change elsewhere, warnings and anomalies as they come.
/// Answers the job's final state; Ctrl-C detaches and leaves the job running.
/// </summary>
public static class JobFollower
{
    private const int MaxReconnects = 60;

    public static async Task<int> FollowAsync(CoordinatorClient client, string jobId, CancellationToken ct)
    {
        var job = await client.GetJsonAsync(JobPath(jobId), ct);
        var progress = new ProgressState(jobId, Format.Str(job["name"]) ?? jobId, job["budget"]);
        Terminal.Markup($"[grey]following {Markup.Escape(jobId)} (Ctrl-C detaches; the job keeps running)[/]");
        try
        {
            if (Terminal.Interactive)
            {
                await Terminal.Out.Live(progress.View()).AutoClear(false).StartAsync(async live =>
                    await PumpAsync(client, jobId, progress, live: true, () => { live.UpdateTarget(progress.View()); live.Refresh(); }, ct));
            }
            else
            {
                string? printed = null;
                var at = DateTime.MinValue;
                var lastState = "";
                await PumpAsync(client, jobId, progress, live: false, () =>
                {
                    var line = progress.Line();
                    // Each change of state at once; step updates at most once a second so a fast job stays readable.
                    if (line == printed || (progress.State == lastState && DateTime.UtcNow - at < TimeSpan.FromSeconds(1) && progress.Step != progress.TotalSteps)) return;
                    Console.Out.WriteLine("  " + line);
                    (printed, at, lastState) = (line, DateTime.UtcNow, progress.State);
                }, ct);
                if (progress.Line() != printed) Console.Out.WriteLine("  " + progress.Line());
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            Terminal.Out.WriteLine();
            Terminal.Markup($"[yellow]detached from {Markup.Escape(jobId)}: it keeps running.[/] " +
                            $"[grey]ftl status {Markup.Escape(jobId)} · ftl logs {Markup.Escape(jobId)} -f · ftl cancel {Markup.Escape(jobId)}[/]");
            return ExitCodes.Detached;
        }
        var final = await client.GetJsonAsync(JobPath(jobId), CancellationToken.None);
        return Summarize(final, client.DashboardUrl(jobId));
    }

    private static async Task PumpAsync(CoordinatorClient client, string jobId, ProgressState progress, bool live, Action changed, CancellationToken ct)
    {
        string? lastId = null;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await foreach (var e in client.StreamAsync(JobPath(jobId, "/stream"), lastId, ct))
                {
                    if (e.Id is not null) lastId = e.Id;
                    JsonNode? data;
                    try { data = JsonNode.Parse(e.Data); }
                    catch (JsonException) { continue; }
                    progress.Apply(e.Type, data);
                    Note(e, data, live);
                    changed();
                    attempt = 0;
                }
                // The coordinator ends the stream once the job has ended; ended otherwise (a restart), it is reopened.
                var now = await client.GetJsonAsync(JobPath(jobId), ct);
                if (JobText.IsTerminal(Format.Str(now["state"]))) return;
            }
            catch (Exception e) when (e is IOException or HttpRequestException or CliFailure && !ct.IsCancellationRequested && attempt < MaxReconnects)
            {
                if (attempt == 0) Terminal.Warn($"lost the coordinator's stream ({e.Message}); reconnecting");
            }
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }

    /// <summary>Warnings, anomalies and milestones (state changes, assignment, checkpoints, evals) as lines above the progress.</summary>
    private static void Note(SseEvent e, JsonNode? data, bool live)
    {
        // Over a live view a line must cover the whole width: the view's old lines are redrawn below it, not erased.
        string Fit(string text) => live ? text.PadRight(Math.Max(0, Terminal.Out.Profile.Width - 3)) : text;
        if (FeedText.IsWarning(e.Type, data))
        {
            Terminal.Warn(Fit(FeedText.Describe(e.Type, data) ?? $"{e.Type}: {e.Data}"));
            return;
        }
        // The feed's state events carry an id; the coordinator's id-less snapshots repeat them.
        var milestone = e.Type is "assigned" or "start" or "checkpoint" or "eval" or "done" || (e.Type == "state" && e.Id is not null);
        if (milestone && FeedText.Describe(e.Type, data) is { } text)
            Terminal.Markup($"[grey]· {Markup.Escape(Fit(text))}[/]");
    }

    /// <summary>The job's outcome; exit 0 only when it succeeded.</summary>
    public static int Summarize(JsonNode job, string dashboardUrl)
    {
        var state = Format.Str(job["state"]);
        var id = Format.Str(job["id"]);
        var p = job["progress"];
        var cost = job["cost"];
        var summary = $"{JobText.State(job)}: {id}, step {Format.Int(p?["step"])?.ToString() ?? "0"}/{Format.Int(p?["total_steps"])?.ToString() ?? "?"}, " +
                      $"loss {Format.Number(Format.Num(p?["loss"]))}, eval loss {Format.Number(Format.Num(p?["eval_loss"]))}, spent {Format.Usd(Format.Num(cost?["spent_usd"]))} " +
                      $"over {Format.Duration(Format.Num(cost?["hours"]) * 3600)}";
        Terminal.Markup(state == "succeeded" ? $"[green]{Markup.Escape(summary)}[/]" : $"[red]{Markup.Escape(summary)}[/]");
        foreach (var line in JobText.Failure(job)) Terminal.Markup($"  [red]{Markup.Escape(line)}[/]");
        if (Format.Str(job["adapter_sha256"]) is { } sha) Terminal.Line($"adapter: sha256 {sha} (ftl download adapter {id})");
        Terminal.Line($"dashboard: {dashboardUrl}");
        return state == "succeeded" ? ExitCodes.Ok : ExitCodes.Failed;
    }
}
