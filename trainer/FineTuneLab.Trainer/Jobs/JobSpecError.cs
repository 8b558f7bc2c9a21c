namespace FineTuneLab.Trainer.Jobs;

/// <summary>One problem in a job spec: the JSON path of the field, where it is in the file, and what is wrong.</summary>
public sealed record JobSpecError(string Path, string Message, int? Line = null, int? Column = null)
{
    public override string ToString() =>
        Line is null ? $"{Path}: {Message}" : $"line {Line}, column {Column}: {Path}: {Message}";
}

/// <summary>A job spec that cannot be used, with every problem found (validation does not stop at the first).</summary>
public sealed class JobSpecException(string file, IReadOnlyList<JobSpecError> errors)
    : Exception($"{file}: invalid job spec ({errors.Count} problem{(errors.Count == 1 ? "" : "s")}):\n  " + string.Join("\n  ", errors))
{
    public string File { get; } = file;
    public IReadOnlyList<JobSpecError> Errors { get; } = errors;
}
