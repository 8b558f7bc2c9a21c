namespace FineTuneLab.Coordinator.Store;

/// <summary>One schema step. Versions are applied in order, each in its own transaction, and never edited once shipped.</summary>
public sealed record Migration(int Version, string Name, string Sql);
