using System.Runtime.ExceptionServices;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>
/// A small persistent thread pool for kernels: <see cref="For"/> runs body(i, thread, context) for i in [0, count) on the
/// caller plus <c>threads - 1</c> dedicated workers. Work items are independent and each always computes the same
/// thing, so results do not depend on which thread ran what. No allocation per call: the body is a function pointer
/// and its arguments live in a caller's stack struct passed by pointer; <c>thread</c> (0 = caller) indexes per-thread scratch. Calls must not nest.
/// A training step is thousands of short parallel regions back to back, so an idle worker first spins for a short while
/// (<see cref="SpinTicks"/>) watching for the next region before it blocks: waking a blocked thread (a halted vCPU on
/// a VM) costs tens of microseconds per region, the bounded spin costs at most that much CPU per gap.
/// </summary>
public sealed unsafe class WorkerPool : IDisposable
{
    private readonly Thread[] _workers;
    private readonly object _gate = new();
    private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 20_000; // 50 µs
    private int _generation;
    private readonly ManualResetEventSlim _done = new(false, spinCount: 200);
    private delegate*<int, int, void*, void> _body;
    private void* _context;
    private int _count;
    private int _next;
    private int _active;
    private volatile bool _stopping;
    private ExceptionDispatchInfo? _failure;

    public WorkerPool(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        Threads = threads;
        _workers = new Thread[threads - 1];
        for (var i = 0; i < _workers.Length; i++)
        {
            var index = i + 1;
            _workers[i] = new Thread(() => WorkerLoop(index)) { IsBackground = true, Name = $"ftl-cpu-{i + 1}" };
            _workers[i].Start();
        }
    }

    public int Threads { get; }

    public void For(int count, delegate*<int, int, void*, void> body, void* context)
    {
        if (count <= 0) return;
        if (count == 1 || _workers.Length == 0)
        {
            for (var i = 0; i < count; i++) body(i, 0, context);
            return;
        }
        _body = body;
        _context = context;
        _count = count;
        _next = 0;
        _failure = null;
        _active = _workers.Length + 1;
        _done.Reset();
        lock (_gate)
        {
            // every worker takes part (those that find no item left just check in)
            Volatile.Write(ref _generation, _generation + 1);
            Monitor.PulseAll(_gate);
        }
        RunItems(0);
        if (Interlocked.Decrement(ref _active) != 0)
            _done.Wait();
        _body = null;
        _context = null;
        _failure?.Throw();
    }

    private void RunItems(int thread)
    {
        try
        {
            int i;
            while ((i = Interlocked.Increment(ref _next) - 1) < _count)
                _body(i, thread, _context);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(e), null);
            Volatile.Write(ref _next, int.MaxValue / 2);
        }
    }

    private void WorkerLoop(int thread)
    {
        var seen = 0;
        while (true)
        {
            var start = System.Diagnostics.Stopwatch.GetTimestamp();
            while (Volatile.Read(ref _generation) == seen && !_stopping &&
                   System.Diagnostics.Stopwatch.GetTimestamp() - start < SpinTicks)
                Thread.SpinWait(8);
            if (Volatile.Read(ref _generation) == seen && !_stopping)
            {
                lock (_gate)
                {
                    while (_generation == seen && !_stopping) Monitor.Wait(_gate);
                }
            }
            if (_stopping) return;
            seen = Volatile.Read(ref _generation);
            RunItems(thread);
            if (Interlocked.Decrement(ref _active) == 0)
                _done.Set();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.PulseAll(_gate);
        }
        foreach (var w in _workers) w.Join();
        _done.Dispose();
    }
}
