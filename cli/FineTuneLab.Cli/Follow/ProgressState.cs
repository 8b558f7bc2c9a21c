using System.Text.Json.Nodes;
using FineTuneLab.Cli.Output;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace FineTuneLab.Cli.Follow;

/// <summary>What the live view of a followed job shows, kept up to date from its feed events and cost snapshots.</summary>
public sealed class ProgressState(string jobId, string name, JsonNode? budget)
{
    public string State { get; private set; } = "queued";
    public string? StopReason { get; private set; }
    public string? Agent { get; private set; }
    public long Step { get; private set; }
    public long? TotalSteps { get; private set; }
    public double? Epoch { get; private set; }
    public double? Loss { get; private set; }
    public double? EvalLoss { get; private set; }
    public double? TokensPerSecond { get; private set; }
    public double? SecondsPerStep { get; private set; }
    public double? SpentUsd { get; private set; }
    public double? ProjectedUsd { get; private set; }
    public int Warnings { get; private set; }

    public void Apply(string type, JsonNode? d)
    {
        switch (type)
        {
            case "state" when d is JsonObject snapshot && snapshot.ContainsKey("state"): // the coordinator's snapshot
                State = Format.Str(d["state"]) ?? State;
                StopReason = Format.Str(d["stop_reason"]);
                break;
            case "state":
                State = Format.Str(d?["to"]) ?? State;
                break;
            case "cost":
                SpentUsd = Format.Num(d?["spent_usd"]) ?? SpentUsd;
                ProjectedUsd = Format.Num(d?["projected_usd"]) ?? ProjectedUsd;
                break;
            case "assigned":
                Agent = Format.Str(d?["agent_name"]) ?? Format.Str(d?["agent_id"]);
                break;
            case "start":
                TotalSteps = Format.Int(d?["total_steps"]) ?? TotalSteps;
                break;
            case "step":
                Step = Format.Int(d?["step"]) ?? Step;
                TotalSteps = Format.Int(d?["total_steps"]) ?? TotalSteps;
                Epoch = Format.Num(d?["epoch"]) ?? Epoch;
                Loss = Format.Num(d?["loss"]);
                TokensPerSecond = Format.Num(d?["tokens_per_s"]) ?? TokensPerSecond;
                // The spend comes from the coordinator's cost items (its projection), never from a step.
                if (Format.Num(d?["elapsed_s"]) is { } elapsed && Step > 0) SecondsPerStep = elapsed / Step;
                break;
            case "eval":
                EvalLoss = Format.Num(d?["eval_loss"]) ?? EvalLoss;
                break;
        }
        if (FeedText.IsWarning(type, d)) Warnings++;
    }

    public double? EtaSeconds => SecondsPerStep is { } s && TotalSteps is { } t ? s * Math.Max(0, t - Step) : null;

    /// <summary>The one-line form, printed on each change when there is no terminal to redraw.</summary>
    public string Line() =>
        $"{State,-9} step {Step}/{TotalSteps?.ToString() ?? "?"}  epoch {Format.Number(Epoch, "0.00")}  loss {Format.Number(Loss)}  eval {Format.Number(EvalLoss)}  " +
        $"{Format.Number(TokensPerSecond, "#,0")} tok/s  ETA {Format.Duration(EtaSeconds)}  {Spend()}";

    /// <summary>The live view: a bar with step/total, then the metrics, then spend against budget.</summary>
    public IRenderable View()
    {
        const int width = 32;
        var fraction = TotalSteps is > 0 ? Math.Clamp((double)Step / TotalSteps.Value, 0, 1) : 0;
        var filled = (int)Math.Round(fraction * width);
        var bar = $"[green]{new string('━', filled)}[/][grey]{new string('━', width - filled)}[/]";
        var head = $"[bold]{Markup.Escape(name)}[/] [grey]{Markup.Escape(jobId)}[/]  [{StateColor()}]{Markup.Escape(State)}[/]" +
                   (Agent is null ? "" : $" [grey]on {Markup.Escape(Agent)}[/]");
        var progress = $"{bar} {fraction * 100,3:0}%  step {Step}/{TotalSteps?.ToString() ?? "?"}  epoch {Format.Number(Epoch, "0.00")}  ETA {Format.Duration(EtaSeconds)}";
        var metrics = $"loss [bold]{Format.Number(Loss)}[/]  eval loss [bold]{Format.Number(EvalLoss)}[/]  {Format.Number(TokensPerSecond, "#,0")} tokens/s" +
                      (Warnings > 0 ? $"  [yellow]{Warnings} warning(s)[/]" : "");
        return new Rows(new Markup(head), new Markup(progress), new Markup(metrics), new Markup(Markup.Escape(Spend())));
    }

    private string Spend()
    {
        var limit = Format.Num(budget?["max_usd"]);
        return $"spent {Format.Usd(SpentUsd ?? 0)}" + (limit is { } l ? $" of {Format.Usd(l)} ({(SpentUsd ?? 0) / l * 100:0}%)" : " (no budget)") +
               (ProjectedUsd is { } p ? $", projected {Format.Usd(p)}" : "");
    }

    private string StateColor() => State switch { "succeeded" => "green", "failed" => "red", "running" => "aqua", "queued" or "assigned" => "default", _ => "yellow" };
}
