using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using FineTuneLab.Cli.Output;
using Spectre.Console;
using static FineTuneLab.Cli.Commands.CommandSupport;

namespace FineTuneLab.Cli.Commands;

/// <summary>
/// <c>ftl logs JOB [-f]</c>: the job's log lines (<c>GET /api/jobs/{id}/logs</c>); with <c>-f</c> it follows the SSE form of
/// the same feed, which the coordinator ends once the job has ended and every line was sent.
/// </summary>
public static class LogsCommand
{
    public static Command Create()
    {
        var job = JobArgument();
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new lines until the job ends (Ctrl-C stops following, not the job)" };
        var level = new Option<string?>("--level") { Description = "Only lines of this level (as the job writes them, e.g. info, warning, error)" };
        var grep = new Option<string?>("--grep") { Description = "Only lines containing this text" };
        var limit = new Option<int>("--limit") { Description = "At most this many lines (without -f)", DefaultValueFactory = _ => 1000 };
        var json = new Option<bool>("--json") { Description = "Print the API's answer as one JSON document (with -f: one JSON object per line)" };
        var command = new Command("logs", "Print a job's log lines, or follow them live with -f") { job, follow, level, grep, limit, json };
        command.SetClientAction(async (parse, client, ct) =>
        {
            var id = parse.GetValue(job)!;
            var filters = new[] { ("level", parse.GetValue(level)), ("q", parse.GetValue(grep)) };
            if (!parse.GetValue(follow))
            {
                var answer = await client.GetJsonAsync(JobPath(id, "/logs") + Query([.. filters, ("limit", parse.GetValue(limit).ToString(CultureInfo.InvariantCulture))]), ct);
                if (parse.GetValue(json)) { Terminal.Json(answer); return ExitCodes.Ok; }
                foreach (var l in answer["logs"]?.AsArray().OfType<JsonObject>() ?? []) Print(l);
                return ExitCodes.Ok;
            }
            return await FollowAsync(client, id, filters, parse.GetValue(json), ct);
        });
        return command;
    }

    private static async Task<int> FollowAsync(Api.CoordinatorClient client, string id, (string, string?)[] filters, bool json, CancellationToken ct)
    {
        long after = 0;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await foreach (var e in client.StreamAsync(JobPath(id, "/logs") + Query([.. filters, ("follow", "true"), ("after_seq", after.ToString(CultureInfo.InvariantCulture))]), null, ct))
                {
                    if (e.Type != "log" || JsonNode.Parse(e.Data) is not JsonObject l) continue;
                    after = Format.Int(l["seq"]) ?? after;
                    if (json) Console.Out.WriteLine(l.ToJsonString());
                    else Print(l);
                    attempt = 0;
                }
                return ExitCodes.Ok; // the coordinator ended the stream: the job has ended
            }
            catch (Exception e) when (e is IOException or HttpRequestException or CliFailure && !ct.IsCancellationRequested && attempt < 30)
            {
                // A dropped connection (coordinator restart, network blip): continue after the last line printed.
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        }
    }

    private static void Print(JsonObject l)
    {
        if (!Terminal.Interactive)
        {
            // Piped or redirected: plain lines, never wrapped, for grep and files.
            Console.Out.WriteLine($"{Format.Time(l["at"])} {Format.Or(Format.Str(l["level"])),-7} {Format.Or(Format.Str(l["source"]))} {Format.Str(l["text"])}");
            return;
        }
        var levelText = Format.Or(Format.Str(l["level"]));
        var color = levelText.ToLowerInvariant() switch { "error" or "fatal" or "critical" => "red", "warning" or "warn" => "yellow", "debug" or "trace" => "grey", _ => "default" };
        Terminal.Out.MarkupLine($"[grey]{Markup.Escape(Format.Time(l["at"]))}[/] [{color}]{Markup.Escape(levelText),-7}[/] [grey]{Markup.Escape(Format.Or(Format.Str(l["source"])))}[/] {Markup.Escape(Format.Str(l["text"]) ?? "")}");
    }
}
