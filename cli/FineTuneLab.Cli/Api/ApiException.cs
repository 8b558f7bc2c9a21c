using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTuneLab.Cli.Api;

/// <summary>One entry of an error's field list, as the coordinator gave it.</summary>
public sealed record ApiProblem(string? Path, int? Line, int? Column, string Message)
{
    public override string ToString() =>
        (Path ?? "") + (Line is { } l ? $" (line {l}{(Column is { } c ? $", column {c}" : "")})" : "") + (Path is null && Line is null ? "" : ": ") + Message;
}

/// <summary>
/// The coordinator refused a call. Reads both error shapes it may answer: ours, <c>{"error": "...", "details": [...]}</c>,
/// and RFC 7807 ProblemDetails, <c>{"title", "detail", "errors"}</c> (with <c>errors</c> either a list of problems or
/// ASP.NET Core's map of field → messages); anything else is shown as the raw body.
/// </summary>
public sealed class ApiException(HttpStatusCode status, string message, IReadOnlyList<ApiProblem> problems) : Exception(message)
{
    public HttpStatusCode Status { get; } = status;
    public IReadOnlyList<ApiProblem> Problems { get; } = problems;

    public static ApiException From(HttpStatusCode status, string? reason, string body)
    {
        JsonNode? node = null;
        try { node = string.IsNullOrWhiteSpace(body) ? null : JsonNode.Parse(body); }
        catch (JsonException) { }
        if (node is not JsonObject o)
            return new ApiException(status, string.IsNullOrWhiteSpace(body) ? reason ?? status.ToString() : body.Trim(), []);

        var error = Text(o["error"]);
        var title = Text(o["title"]);
        var detail = Text(o["detail"]);
        var message = error ?? (title, detail) switch
        {
            (not null, not null) when title != detail => $"{title}: {detail}",
            (not null, _) => title,
            (_, not null) => detail,
            _ => reason ?? status.ToString(),
        };
        var problems = new List<ApiProblem>();
        AddProblems(o["details"], problems);
        AddProblems(o["errors"], problems);
        return new ApiException(status, message, problems);
    }

    private static void AddProblems(JsonNode? node, List<ApiProblem> into)
    {
        switch (node)
        {
            case JsonArray list:
                foreach (var item in list)
                {
                    if (item is JsonObject p)
                        into.Add(new ApiProblem(Text(p["path"]) ?? Text(p["field"]) ?? Text(p["name"]), Int(p["line"]), Int(p["column"]),
                            Text(p["message"]) ?? Text(p["detail"]) ?? Text(p["error"]) ?? p.ToJsonString()));
                    else if (item is not null)
                        into.Add(new ApiProblem(null, null, null, Text(item) ?? item.ToJsonString()));
                }
                break;
            case JsonObject map: // ValidationProblemDetails: {"field": ["message", ...]}
                foreach (var (field, messages) in map)
                {
                    if (messages is JsonArray many)
                        foreach (var m in many) into.Add(new ApiProblem(field, null, null, Text(m) ?? m?.ToJsonString() ?? ""));
                    else
                        into.Add(new ApiProblem(field, null, null, Text(messages) ?? messages?.ToJsonString() ?? ""));
                }
                break;
        }
    }

    private static string? Text(JsonNode? n) => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static int? Int(JsonNode? n) => n is JsonValue v && v.TryGetValue<int>(out var i) ? i : null;
}
