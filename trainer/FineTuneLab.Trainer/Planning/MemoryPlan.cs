namespace FineTuneLab.Trainer.Planning;

/// <summary>One line of a memory plan; <see cref="Phase"/> says whether it is held while loading, while training, or always.</summary>
public sealed record MemoryComponent(string Name, long Bytes, MemoryPhase Phase, string Note);

public enum MemoryPhase { Always, Load, Step }

/// <summary>
/// Predicted memory of a training run: the engine's arenas exactly as it sizes them, the kernels' workspace, the
/// load-time extras (the memory-mapped weights, staging), and the .NET runtime. Peak = the larger of the load phase
/// and the training phase.
/// </summary>
public sealed record MemoryPlan(IReadOnlyList<MemoryComponent> Components)
{
    public long LoadPeakBytes => Components.Where(c => c.Phase != MemoryPhase.Step).Sum(c => c.Bytes);
    public long StepPeakBytes => Components.Where(c => c.Phase != MemoryPhase.Load).Sum(c => c.Bytes);
    public long PeakBytes => Math.Max(LoadPeakBytes, StepPeakBytes);
    public long Bytes(string name) => Components.Where(c => c.Name == name).Sum(c => c.Bytes);
}
