namespace FineTuneLab.Coordinator.Jobs;

/// <summary>
/// Bounds the <c>ftl-train validate</c>/<c>plan</c> child processes that job submissions start: at most
/// <see cref="Running"/> at once (one per CPU), at most <see cref="Waiting"/> more queued behind them; a submission
/// beyond that is refused (429) rather than piling up processes until the coordinator itself stalls.
/// </summary>
public sealed class ValidatorSlots(int running, int waiting)
{
    /// <summary>What a refused client is told to wait (a validation takes about a second).</summary>
    public const int RetryAfterSeconds = 2;

    private readonly SemaphoreSlim _slots = new(running, running);
    private int _admitted;

    public int Running => running;
    public int Waiting => waiting;
    public int Capacity => running + waiting;

    public static ValidatorSlots ForThisMachine() => new(Environment.ProcessorCount, 4 * Environment.ProcessorCount);

    /// <summary>A slot (dispose it to free it), once one is free; null at once when the queue is full.</summary>
    public async Task<IDisposable?> TryEnterAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _admitted) > Capacity)
        {
            Interlocked.Decrement(ref _admitted);
            return null;
        }
        try
        {
            await _slots.WaitAsync(cancellationToken);
        }
        catch
        {
            Interlocked.Decrement(ref _admitted);
            throw;
        }
        return new Lease(this);
    }

    private sealed class Lease(ValidatorSlots owner) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) != 0) return;
            owner._slots.Release();
            Interlocked.Decrement(ref owner._admitted);
        }
    }
}
