using System.Reflection;
using System.Runtime.ExceptionServices;
using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Backends.Cuda.SelfTest;

namespace FineTuneLab.Trainer.Tests.Cuda;

/// <summary>
/// The GPU self-test's op suite, run here with a second CPU backend standing in for the GPU, through a proxy that
/// records which IBackend methods the suite calls on it: every method of the interface must be exercised (a new op
/// added to IBackend without a self-test comparison fails this test), and on two identical backends every comparison
/// must pass (the suite itself compares the right outputs).
/// </summary>
public sealed class GpuSelfTestCoverageTests
{
    public class RecordingBackend : DispatchProxy
    {
        public IBackend Inner { get; set; } = null!;
        public HashSet<string> Called { get; } = [];

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            lock (Called) Called.Add(targetMethod!.Name);
            try
            {
                return targetMethod.Invoke(Inner, args);
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                ExceptionDispatchInfo.Throw(e.InnerException);
                throw;
            }
        }
    }

    [Fact]
    public void The_op_suite_calls_every_backend_method_and_passes_on_identical_backends()
    {
        using var reference = new CpuBackend(2);
        using var standIn = new CpuBackend(2);
        var proxy = DispatchProxy.Create<IBackend, RecordingBackend>();
        var recorder = (RecordingBackend)(object)proxy;
        recorder.Inner = standIn;

        var rows = OpSuite.Run(reference, proxy, tf32: false);

        var failed = rows.Where(r => !r.Pass).Select(r => $"{r.Op}: {r.MaxRelError} {r.Note}").ToList();
        Assert.True(failed.Count == 0, "comparisons failed between two CPU backends:\n" + string.Join("\n", failed));
        var ops = typeof(IBackend).GetMethods()
            .Where(m => !m.IsSpecialName && m.Name != nameof(IDisposable.Dispose))
            .Select(m => m.Name)
            .ToHashSet();
        var missing = ops.Except(recorder.Called).Order().ToList();
        Assert.True(missing.Count == 0, "the GPU self-test never calls: " + string.Join(", ", missing));
        Assert.True(rows.Count >= 60, $"only {rows.Count} comparisons");
    }
}
