using System.CommandLine;
using System.Text.Json.Nodes;
using FineTuneLab.Cli.Output;
using Spectre.Console;
using static FineTuneLab.Cli.Commands.CommandSupport;

namespace FineTuneLab.Cli.Commands;

/// <summary><c>ftl status JOB</c>: everything <c>GET /api/jobs/{id}</c> knows, grouped as the dashboard's job page shows it.</summary>
public static class StatusCommand
{
    public static Command Create()
    {
        var job = JobArgument();
        var json = JsonOption();
        var command = new Command("status", "Show one job: state, progress, cost and budget, checkpoint, adapter, error (exit 1 once it ended other than succeeded)") { job, json };
        command.SetClientAction(async (parse, client, ct) =>
        {
            var id = parse.GetValue(job)!;
            var j = await client.GetJsonAsync(JobPath(id), ct);
            if (parse.GetValue(json)) Terminal.Json(j);
            else Terminal.Out.Write(Render(j, client.DashboardUrl(id)));
            return Outcome(Format.Str(j["state"]));
        });
        return command;
    }

    /// <summary>Scripts branch on it: 1 once the job has ended other than succeeded (failed, cancelled, stopped), else 0.</summary>
    public static int Outcome(string? state) => JobText.IsTerminal(state) && state != "succeeded" ? ExitCodes.Failed : ExitCodes.Ok;

    public static Grid Render(JsonNode j, string dashboardUrl)
    {
        var grid = new Grid().AddColumn(new GridColumn().NoWrap().PadRight(2)).AddColumn();
        void Row(string name, string? value) { if (!string.IsNullOrEmpty(value)) grid.AddRow(new Text(name, new Style(Color.Grey)), new Text(value)); }
        Row("job", $"{Format.Str(j["id"])}  {Format.Str(j["name"])}" + (Format.Str(j["project"]) is { Length: > 0 } p ? $"  (project {p})" : ""));
        grid.AddRow(new Text("state", new Style(Color.Grey)), new Text(JobText.State(j), JobText.StateStyle(Format.Str(j["state"]))));
        Row("waiting", Format.Str(j["waiting_reason"]));
        Row("method", $"{Format.Str(j["method"])} on {Format.Str(j["model"])}");
        Row("agent", Format.Str(j["agent_id"]) is { } a ? $"{a} (gpu {Format.Int(j["gpu_index"])?.ToString() ?? "-"})" : null);
        Row("times", $"created {Format.Time(j["created_at"])}, started {Format.Time(j["started_at"])}, finished {Format.Time(j["finished_at"])}");
        if (j["progress"] is JsonObject pr)
            Row("progress", $"step {Format.Int(pr["step"])}/{Format.Int(pr["total_steps"])}, epoch {Format.Number(Format.Num(pr["epoch"]), "0.00")}, " +
                $"loss {Format.Number(Format.Num(pr["loss"]))}, eval loss {Format.Number(Format.Num(pr["eval_loss"]))}, {Format.Number(Format.Num(pr["tokens_per_s"]), "#,0")} tokens/s");
        if (j["cost"] is JsonObject c)
            Row("cost", $"spent {Format.Usd(Format.Num(c["spent_usd"]))} over {Format.Number(Format.Num(c["hours"]), "0.####")} h at {Format.Usd(Format.Num(c["rate_usd_per_hour"]))}/h, " +
                (Format.Num(c["projected_usd"]) is { } proj ? $"projected {Format.Usd(proj)} ({Format.Str(c["projection_basis"])})" : $"no projection ({Format.Or(Format.Str(c["projection_reason"]))})"));
        Row("budget", JobText.Budget(j["budget"]) + (Format.Str(j["budget"]?["state"]) is { } bs ? $", {bs}" : ""));
        Row("restarts", Format.Int(j["restarts"]) is { } r and > 0 ? $"{r} of {Format.Int(j["max_restarts"])}" : null);
        if (j["last_checkpoint"] is JsonObject cp)
            Row("checkpoint", $"step {Format.Int(cp["step"])}, {Format.Bytes(Format.Num(cp["bytes"]))}, sha256 {Format.Str(cp["sha256"])}");
        Row("adapter", Format.Str(j["adapter_sha256"]) is { } sha ? $"sha256 {sha} (ftl download adapter {Format.Str(j["id"])})" : null);
        var failure = JobText.Failure(j).ToList();
        if (failure.Count > 0) grid.AddRow(new Text("error", new Style(Color.Red)), new Text(string.Join("\n", failure)));
        Row("dashboard", dashboardUrl);
        return grid;
    }
}
