using System.Text.Json.Serialization;
using FineTuneLab.Events;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>One optimizer step of a job's metrics (<c>GET /api/jobs/{id}/metrics</c>), with the eval at that step if any.
/// A row without an eval leaves <c>eval_loss</c> and <c>token_accuracy</c> out of its JSON.</summary>
public sealed record MetricRow(long Step, string At, double Epoch, double Loss, double Lr, double GradNorm, double TokensPerS,
    double SamplesPerS, double ElapsedS, double CostUsd,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? EvalLoss = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? TokenAccuracy = null)
{
    /// <summary>The CSV columns of <c>/metrics?format=csv</c>, in order.</summary>
    public static readonly string[] Columns =
        ["step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "samples_per_s", "eval_loss", "token_accuracy", "elapsed_s", "cost_usd"];

    /// <summary>The value of a column of <see cref="Columns"/> (null: the row has none).</summary>
    public double? Value(string column) => column switch
    {
        "step" => Step, "epoch" => Epoch, "loss" => Loss, "lr" => Lr, "grad_norm" => GradNorm, "tokens_per_s" => TokensPerS,
        "samples_per_s" => SamplesPerS, "eval_loss" => EvalLoss, "token_accuracy" => TokenAccuracy, "elapsed_s" => ElapsedS, "cost_usd" => CostUsd,
        _ => throw new ArgumentOutOfRangeException(nameof(column), column, "not a metrics column"),
    };
}

public static partial class JobProjection
{
    /// <summary>
    /// One row per optimizer step (the latest report wins after a resume), eval results joined by step. A step's
    /// <c>cost_usd</c> is the job's spend when it ran: the spend before its run (from that run's <c>assigned</c>
    /// event) plus the run's frozen price over the trainer's elapsed time.
    /// </summary>
    /// <param name="log">The job's log in order.</param>
    public static List<MetricRow> MetricRows(IEnumerable<JobLogEntry> log)
    {
        var rows = new SortedDictionary<long, MetricRow>();
        var evals = new Dictionary<long, EvalEvent>();
        var (before, price) = (0.0, 0.0);
        foreach (var e in log)
        {
            switch (e.Body)
            {
                case JobAssigned run:
                    (before, price) = (run.SpentUsdBefore, run.PricePerHour);
                    break;
                case EvalEvent eval:
                    evals[eval.Step] = eval;
                    break;
                case StepEvent s:
                    rows[s.Step] = new MetricRow(s.Step, e.At, s.Epoch, s.Loss, s.Lr, s.GradNorm, s.TokensPerS, s.SamplesPerS, s.ElapsedS,
                        Math.Round(before + price * s.ElapsedS / 3600.0, 8));
                    break;
            }
        }
        foreach (var (step, eval) in evals)
            if (rows.TryGetValue(step, out var row))
                rows[step] = row with { EvalLoss = eval.EvalLoss, TokenAccuracy = eval.TokenAccuracy };
        return rows.Values.ToList();
    }
}
