namespace FineTuneLab.Trainer.Tokenizers.Jinja;

/// <summary>A template could not be parsed or rendered; names the template (where known), line and column.</summary>
public class JinjaException : Exception
{
    public int Line { get; }
    public int Column { get; }
    /// <summary>What went wrong, without the position.</summary>
    public string Reason { get; }

    public JinjaException(string reason, int line, int column, Exception? inner = null, string? origin = null)
        : base((origin is null ? "" : origin + ": ") + (line > 0 ? $"template line {line}, column {column}: {reason}" : reason), inner)
    {
        Line = line;
        Column = column;
        Reason = reason;
    }
}

/// <summary>The template is malformed or uses a construct this interpreter does not support.</summary>
public sealed class JinjaSyntaxException(string reason, int line, int column, string? origin = null)
    : JinjaException(reason, line, column, null, origin);

/// <summary>Rendering failed: a type error, an undefined value used where it cannot be, or the template's own <c>raise_exception</c>.</summary>
public sealed class JinjaRenderException(string reason, int line, int column, Exception? inner = null)
    : JinjaException(reason, line, column, inner);

/// <summary>The template called <c>raise_exception(message)</c> (transformers raises a TemplateError with that message).</summary>
public sealed class JinjaRaisedException(string templateMessage, int line, int column)
    : JinjaException($"the template raised: {templateMessage}", line, column)
{
    public string TemplateMessage { get; } = templateMessage;
}
