using System.Runtime.ExceptionServices;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>
/// A small persistent thread pool for kernels: <see cref="For"/> runs body(i, thread, context) for i in [0, count) on the
/// caller plus <c>threads - 1</c> dedicated workers. Work items are independent and each always computes the same
/// thing, so results do not depend on which thread ran what. No allocation per call: the body is a function pointer
/// and its arguments live in a caller's stack struct passed by pointer; <c>thread</c> (0 = caller) indexes per-thread scratch. Calls must not nest.
/// </summary>
public sealed unsafe class WorkerPool : IDisposable
{
    private readonly Thread[] _workers;
    private readonly SemaphoreSlim _start;
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
        _start = new SemaphoreSlim(0);
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
        var helpers = Math.Min(_workers.Length, count - 1);
        _active = helpers + 1;
        _done.Reset();
        _start.Release(helpers);
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
        while (true)
        {
            _start.Wait();
            if (_stopping) return;
            RunItems(thread);
            if (Interlocked.Decrement(ref _active) == 0)
                _done.Set();
        }
    }

    public void Dispose()
    {
        _stopping = true;
        if (_workers.Length > 0) _start.Release(_workers.Length);
        foreach (var w in _workers) w.Join();
        _start.Dispose();
        _done.Dispose();
    }
}
