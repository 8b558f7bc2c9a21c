namespace FineTuneLab.Trainer.Tokenizers.Jinja;

/// <summary>A template could not be parsed or rendered; names the template line and column where known.</summary>
public class JinjaException : Exception
{
    public int Line { get; }
    public int Column { get; }

    public JinjaException(string message, int line, int column, Exception? inner = null)
        : base(line > 0 ? $"template line {line}, column {column}: {message}" : message, inner)
    {
        Line = line;
        Column = column;
    }
}

/// <summary>The template is malformed or uses a construct this interpreter does not support.</summary>
public sealed class JinjaSyntaxException(string message, int line, int column) : JinjaException(message, line, column);

/// <summary>Rendering failed: a type error, an undefined value used where it cannot be, or the template's own <c>raise_exception</c>.</summary>
public sealed class JinjaRenderException(string message, int line, int column, Exception? inner = null)
    : JinjaException(message, line, column, inner);

/// <summary>The template called <c>raise_exception(message)</c> (transformers raises a TemplateError with that message).</summary>
public sealed class JinjaRaisedException(string templateMessage, int line, int column)
    : JinjaException($"the template raised: {templateMessage}", line, column)
{
    public string TemplateMessage { get; } = templateMessage;
}
