namespace FineTuneLab.Trainer.Data;

public enum ProblemSeverity { Warning, Error }

public enum ProblemKind
{
    InvalidUtf8,
    InvalidJson,
    NotAnObject,
    UnrecognizedShape,
    MixedFormats,
    MissingField,
    WrongType,
    EmptyField,
    UnknownRole,
    NoAssistantTurn,
    WrongOrder,
    EndsWithUserTurn,
    EmptyPreferenceSide,
    IdenticalChosenRejected,
    PreferenceLostInTruncation,
    TooLong,
    TemplateFailed,
}

/// <summary>One thing wrong with one line of a dataset: where (line, field), what, and how bad.</summary>
public sealed record DatasetProblem(long Line, ProblemSeverity Severity, ProblemKind Kind, string? Field, string Message)
{
    public override string ToString() =>
        $"line {Line}: {Severity.ToString().ToLowerInvariant()}: {Message}" + (Field is null ? "" : $" (field '{Field}')");
}

/// <summary>A dataset line could not be used; carries the problems found on it.</summary>
public sealed class DatasetFormatException(string path, IReadOnlyList<DatasetProblem> problems)
    : Exception($"{path}: " + string.Join("; ", problems.Take(5)) + (problems.Count > 5 ? $" (and {problems.Count - 5} more)" : ""))
{
    public IReadOnlyList<DatasetProblem> Problems { get; } = problems;
}
