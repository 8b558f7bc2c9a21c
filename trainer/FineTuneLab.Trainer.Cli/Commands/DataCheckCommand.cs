using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using FineTuneLab.Trainer.Data;
using FineTuneLab.Trainer.Tokenizers;
using Spectre.Console;

namespace FineTuneLab.Trainer.Cli.Commands;

/// <summary>
/// <c>ftl-train data check</c>: training-set QA (every problem with its line number, then token statistics,
/// duplicates, role balance and a time/cost projection). Exit code 1 when errors were found, 2 when the check
/// could not run. The tokenizer comes from <paramref name="loadTokenizer"/> (a tokenizer folder → ITokenizer).
/// </summary>
public static class DataCheckCommand
{
    private const int ProblemsShown = 50;

    public static Command Create(Func<string, ITokenizer> loadTokenizer, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var data = new Option<FileInfo>("--data") { Description = "The JSONL training file", Required = true };
        var tokenizerDir = new Option<DirectoryInfo>("--tokenizer") { Description = "Folder with tokenizer.json and tokenizer_config.json", Required = true };
        var format = new Option<string>("--format") { Description = "auto, chat, prompt-completion or preference", DefaultValueFactory = _ => "auto" };
        var maxSeqLen = new Option<int>("--max-seq-len") { Description = "Maximum sequence length in tokens", DefaultValueFactory = _ => 2048 };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON" };
        var tokensPerSecond = new Option<double?>("--tokens-per-s") { Description = "Training throughput, for the time projection" };
        var pricePerHour = new Option<double?>("--price-per-hour") { Description = "Node price per hour, for the cost projection" };
        var epochs = new Option<int>("--epochs") { Description = "Epochs, for the projection", DefaultValueFactory = _ => 1 };
        var columns = new Option<string?>("--columns") { Description = "Column mapping for other shapes, e.g. customer_input=user,ideal_response=assistant" };
        var lastTurnOnly = new Option<bool>("--last-turn-only") { Description = "Train only the last assistant turn of each chat" };
        var truncation = new Option<string>("--truncation") { Description = "right, left or drop", DefaultValueFactory = _ => "right" };

        var check = new Command("check", "Validate a training set and report statistics (training-set QA)")
        {
            data, tokenizerDir, format, maxSeqLen, json, tokensPerSecond, pricePerHour, epochs, columns, lastTurnOnly, truncation,
        };
        check.SetAction(async (parse, ct) =>
        {
            var output = stdout ?? Console.Out;
            var errors = stderr ?? Console.Error;
            DatasetCheckOptions options;
            try
            {
                options = new DatasetCheckOptions
                {
                    Format = ParseFormat(parse.GetValue(format)!),
                    Mapping = parse.GetValue(columns) is { } spec ? ColumnMapping.Parse(spec) : null,
                    Encoding = new EncodingOptions
                    {
                        MaxSeqLen = parse.GetValue(maxSeqLen) > 0 ? parse.GetValue(maxSeqLen) : throw new FormatException("--max-seq-len must be positive"),
                        AssistantLoss = parse.GetValue(lastTurnOnly) ? AssistantLoss.LastTurn : AssistantLoss.AllTurns,
                        Truncation = ParseTruncation(parse.GetValue(truncation)!),
                    },
                    TokensPerSecond = parse.GetValue(tokensPerSecond),
                    PricePerHour = parse.GetValue(pricePerHour),
                    Epochs = parse.GetValue(epochs),
                };
            }
            catch (FormatException e)
            {
                await errors.WriteLineAsync($"ftl-train data check: {e.Message}");
                return 2;
            }
            var file = parse.GetValue(data)!;
            var dir = parse.GetValue(tokenizerDir)!;
            if (!file.Exists)
            {
                await errors.WriteLineAsync($"ftl-train data check: {file.FullName} does not exist");
                return 2;
            }
            DatasetCheckReport report;
            try
            {
                var tokenizer = loadTokenizer(dir.FullName);
                var template = ChatTemplateResolver.Resolve(dir.FullName, tokenizer);
                report = await DatasetCheck.RunAsync(file.FullName, tokenizer, template, options, ct);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or JsonException or UnauthorizedAccessException
                                          or Tokenizers.Jinja.JinjaException)
            {
                await errors.WriteLineAsync($"ftl-train data check: {e.Message}");
                return 2;
            }
            if (parse.GetValue(json))
                await output.WriteLineAsync(JsonSerializer.Serialize(report, JsonOptions));
            else
                PrintTables(report, output);
            return report.HasErrors ? 1 : 0;
        });

        return new Command("data", "Training data tools") { check };
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    private static DatasetFormat ParseFormat(string s) => s.ToLowerInvariant() switch
    {
        "auto" => DatasetFormat.Auto,
        "chat" => DatasetFormat.Chat,
        "prompt-completion" => DatasetFormat.PromptCompletion,
        "preference" => DatasetFormat.Preference,
        _ => throw new FormatException($"--format must be auto, chat, prompt-completion or preference, not '{s}'"),
    };

    private static TruncationPolicy ParseTruncation(string s) => s.ToLowerInvariant() switch
    {
        "right" => TruncationPolicy.Right,
        "left" => TruncationPolicy.Left,
        "drop" => TruncationPolicy.Drop,
        _ => throw new FormatException($"--truncation must be right, left or drop, not '{s}'"),
    };

    private static string N(double v) => v.ToString("#,0", CultureInfo.InvariantCulture);

    private static void PrintTables(DatasetCheckReport r, TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = writer == Console.Out ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = writer == Console.Out ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        });
        // Redirected output (a file, a pipe, a test) gets wide lines so messages stay whole and greppable.
        if (writer != Console.Out || Console.IsOutputRedirected) console.Profile.Width = 240;
        var verdict = r.HasErrors ? $"[red]{r.ErrorCount} error(s)[/]" : "[green]no errors[/]";
        console.MarkupLine($"[bold]{Markup.Escape(r.Path)}[/]: {r.Format.ToString().ToLowerInvariant()} format, {N(r.Lines)} lines " +
                           $"({N(r.BlankLines)} blank), {N(r.ValidExamples)} valid examples, {verdict}, {r.WarningCount} warning(s)");

        if (r.Problems.Count > 0)
        {
            var problems = new Table().AddColumns("line", "severity", "problem", "field");
            foreach (var problem in r.Problems.Take(ProblemsShown))
                problems.AddRow(problem.Line.ToString(CultureInfo.InvariantCulture),
                    problem.Severity == ProblemSeverity.Error ? "[red]error[/]" : "[yellow]warning[/]",
                    Markup.Escape(problem.Message), Markup.Escape(problem.Field ?? ""));
            console.Write(problems);
            var hidden = r.ErrorCount + r.WarningCount - Math.Min(ProblemsShown, r.Problems.Count);
            if (hidden > 0) console.MarkupLine($"… and {N(hidden)} more (use --json for all listed ones)");
        }

        var tokens = new Table().AddColumns("tokens", "value");
        tokens.AddRow("total", N(r.TotalTokens));
        tokens.AddRow("trainable (loss)", $"{N(r.TrainableTokens)} ({Share(r.TrainableTokens, r.TotalTokens)})");
        tokens.AddRow("context (no loss)", $"{N(r.ContextTokens)} ({Share(r.ContextTokens, r.TotalTokens)})");
        if (r.Lengths is { } l)
        {
            tokens.AddRow("length min / mean / max", $"{N(l.Min)} / {N(l.Mean)} / {N(l.Max)}");
            tokens.AddRow("length p50 / p90 / p95 / p99", $"{N(l.P50)} / {N(l.P90)} / {N(l.P95)} / {N(l.P99)}");
        }
        tokens.AddRow($"longer than {N(r.MaxSeqLen)}", N(r.OverLongExamples));
        tokens.AddRow("exact duplicates", N(r.ExactDuplicates.Count) + Pairs(r.ExactDuplicates));
        tokens.AddRow("near duplicates", N(r.NearDuplicates.Count) + Pairs(r.NearDuplicates) +
            (r.NearDuplicatesChecked + r.ExactDuplicates.Count < r.ValidExamples ? $" (first {N(r.NearDuplicatesChecked)} examples searched)" : ""));
        foreach (var (role, count) in r.RoleCounts) tokens.AddRow($"{role} entries", N(count));
        if (r.MeanTurns is { } turns) tokens.AddRow("mean turns per chat", turns.ToString("0.0", CultureInfo.InvariantCulture));
        if (r.Projection is { } p)
        {
            tokens.AddRow("tokens per epoch", N(p.TokensPerEpoch));
            tokens.AddRow($"projected time ({p.Epochs} epoch(s) at {N(p.TokensPerSecond)} tok/s)", TimeSpan.FromSeconds(p.Seconds).ToString(@"d\.hh\:mm\:ss", CultureInfo.InvariantCulture));
            if (p.Cost is { } cost) tokens.AddRow($"projected cost at {p.PricePerHour!.Value.ToString("0.00", CultureInfo.InvariantCulture)}/h", cost.ToString("0.00", CultureInfo.InvariantCulture));
        }
        console.Write(tokens);
    }

    private static string Share(long part, long total) =>
        total == 0 ? "0%" : ((double)part / total).ToString("0.0%", CultureInfo.InvariantCulture);

    private static string Pairs(IReadOnlyList<DuplicatePair> pairs) =>
        pairs.Count == 0 ? "" : " (e.g. " + string.Join(", ", pairs.Take(3).Select(p => $"line {p.DuplicateLine} ~ line {p.FirstLine}")) + ")";
}
