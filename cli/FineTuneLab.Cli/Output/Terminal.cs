using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace FineTuneLab.Cli.Output;

/// <summary>Where ftl writes: tables and progress on stdout, errors on stderr, <c>--json</c> documents on stdout alone.</summary>
public static class Terminal
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    // Piped or redirected output has no terminal width: a very wide virtual one keeps every table row, message and
    // field error on one line, as the coordinator gave it (nothing sized to content grows to it).
    private const int RedirectedWidth = 4096;

    static Terminal()
    {
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = RedirectedWidth;
        if (Console.IsErrorRedirected) Error.Profile.Width = RedirectedWidth;
    }

    public static IAnsiConsole Out => AnsiConsole.Console;

    public static IAnsiConsole Error { get; } = AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(Console.Error),
        Ansi = Console.IsErrorRedirected ? AnsiSupport.No : AnsiSupport.Detect,
    });

    /// <summary>A live display is drawn only on a real terminal; elsewhere (CI, pipes) progress is one line per change.</summary>
    public static bool Interactive => Out.Profile.Capabilities.Interactive && !Console.IsOutputRedirected;

    /// <summary>Machine output: one JSON document on stdout, nothing else.</summary>
    public static void Json(JsonNode? node) => Console.Out.WriteLine(node?.ToJsonString(Indented) ?? "null");

    public static void Line(string text) => Out.WriteLine(text);

    public static void Markup(string markup) => Out.MarkupLine(markup);

    public static void Warn(string text) => Out.MarkupLine($"[yellow]![/] {Spectre.Console.Markup.Escape(text)}");

    public static void Fail(string text) => Error.MarkupLine($"[red]error:[/] {Spectre.Console.Markup.Escape(text)}");
}
