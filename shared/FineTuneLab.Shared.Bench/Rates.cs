namespace FineTuneLab.Shared.Bench;

/// <summary>One client→server pairing's throughput: unary calls/s (one at a time, and N in flight) and streamed messages/s.</summary>
public sealed record Rates(double UnarySequential, double UnaryConcurrent, double Stream)
{
    public static Rates Best(IEnumerable<Rates> runs)
    {
        var list = runs.ToList();
        return new Rates(list.Max(r => r.UnarySequential), list.Max(r => r.UnaryConcurrent), list.Max(r => r.Stream));
    }
}
