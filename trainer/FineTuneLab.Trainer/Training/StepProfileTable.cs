using System.Globalization;
using System.Text;
using FineTuneLab.Trainer.Backends;

namespace FineTuneLab.Trainer.Training;

/// <summary>Text table of a <see cref="ProfilingBackend"/> report over <c>steps</c> timed steps, per step.</summary>
public static class StepProfileTable
{
    public static string Format(IReadOnlyList<OpProfile> ops, int steps, double stepMsMedian)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        var total = ops.Sum(o => o.Milliseconds) / steps;
        var quiet = ops.Sum(o => o.Calls * o.MinMilliseconds) / steps;
        sb.AppendLine(inv, $"per-op time of one step (mean of {steps} profiled steps; step median {stepMsMedian:F1} ms, backend calls {total:F1} ms; " +
            $"calls x fastest call {quiet:F1} ms, an estimate for an otherwise idle machine):");
        sb.AppendLine(inv, $"{"op",-58} {"calls",6} {"ms",9} {"%",6} {"GFLOP/s",8} {"min ms",8} {"GFLOP/s@min",11}");
        foreach (var o in ops)
            sb.AppendLine(inv, $"{o.Op,-58} {o.Calls / (double)steps,6:F0} {o.Milliseconds / steps,9:F2} {100 * o.Milliseconds / steps / total,6:F1} " +
                $"{(o.Gflop > 0 ? o.GflopsPerSecond.ToString("F1", inv) : ""),8} {o.MinMilliseconds,8:F3} " +
                $"{(o.Gflop > 0 ? (o.Gflop / o.Calls / (o.MinMilliseconds / 1000)).ToString("F1", inv) : ""),11}");
        sb.AppendLine("by kind (ms per step, share, GFLOP/s; then the same at each op's fastest call):");
        foreach (var g in ops.GroupBy(o => Kind(o.Op)).OrderByDescending(g => g.Sum(o => o.Calls * o.MinMilliseconds)))
        {
            var ms = g.Sum(o => o.Milliseconds);
            var minMs = g.Sum(o => o.Calls * o.MinMilliseconds);
            var gflop = g.Sum(o => o.Gflop);
            sb.AppendLine(inv, $"  {g.Key,-56} {g.Sum(o => o.Calls) / (double)steps,6:F0} {ms / steps,9:F2} {100 * ms / steps / total,6:F1} " +
                $"{(gflop > 0 ? (gflop / (ms / 1000)).ToString("F1", inv) : ""),8} {minMs / steps,8:F1} {(gflop > 0 ? (gflop / (minMs / 1000)).ToString("F1", inv) : ""),11}");
        }
        return sb.ToString();
    }

    // GEMMs with the model dimension on the reduction side of a rank-r operand are LoRA's; the rest by op name.
    private static string Kind(string op)
    {
        var name = op.Split(' ')[0];
        if (name != "gemm") return name;
        var dims = op.Split(' ')[1].Split('x').Select(int.Parse).ToArray();
        return dims.Min() <= 64 ? "gemm (LoRA, rank-sized side)" : $"gemm (frozen, {op.Split(' ')[3]})";
    }
}
