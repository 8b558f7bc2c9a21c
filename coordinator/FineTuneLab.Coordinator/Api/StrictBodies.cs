using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Features;

namespace FineTuneLab.Coordinator.Api;

/// <summary>An endpoint's JSON body shape (<see cref="StrictBodies"/> checks it before the body is bound).</summary>
/// <param name="Required">Whether a request without a body is refused (a command's body is optional).</param>
/// <param name="What">What the body is, for the answer's message ("invalid job (3 problems)").</param>
/// <param name="MoreProblems">The handler's own checks that need no bound body, run too when the shape fails, so
/// that one answer lists every problem (a submission's spec validation).</param>
public sealed record StrictBodyMetadata(JsonShape Shape, bool Required, string What,
    Func<HttpContext, JsonNode, Task<IReadOnlyList<FieldProblem>>>? MoreProblems);

/// <summary>
/// Every JSON body is read (at most <see cref="MaxJsonBodyBytes"/>, else 413), parsed and checked against its
/// endpoint's <see cref="JsonShape"/> before the handler's record is bound from it: wrong types, out-of-range numbers,
/// over-long strings and unknown fields answer 400 listing every problem with its JSON path, so neither the binder
/// (which stops at the first problem, or ignores unknown fields) nor a handler sees a body of the wrong shape.
/// </summary>
public static class StrictBodies
{
    /// <summary>JSON bodies are small (a job spec is a few KiB); uploads go to <c>POST /api/artifacts</c> instead.</summary>
    public const int MaxJsonBodyBytes = 1 << 20;

    /// <summary>The endpoint's JSON body is checked against <paramref name="shape"/>.</summary>
    public static RouteHandlerBuilder StrictBody(this RouteHandlerBuilder endpoint, JsonShape shape, string what,
        Func<HttpContext, JsonNode, Task<IReadOnlyList<FieldProblem>>>? moreProblems = null, bool required = true) =>
        endpoint.WithMetadata(new StrictBodyMetadata(shape, required, what, moreProblems));

    /// <summary>After routing (the endpoint's metadata says the shape), before the endpoint binds its parameters.</summary>
    public static void UseStrictBodies(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        if (http.GetEndpoint()?.Metadata.GetMetadata<StrictBodyMetadata>() is not { } strict)
        {
            await next(http);
            return;
        }
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = MaxJsonBodyBytes + 1;
        if (http.Request.ContentLength > MaxJsonBodyBytes)
        {
            await TooLarge(http);
            return;
        }
        var body = new MemoryStream();
        try
        {
            var buffer = new byte[16 << 10];
            int n;
            while ((n = await http.Request.Body.ReadAsync(buffer, http.RequestAborted)) > 0)
            {
                body.Write(buffer, 0, n);
                if (body.Length > MaxJsonBodyBytes)
                {
                    await TooLarge(http);
                    return;
                }
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await TooLarge(http);
            return;
        }
        if (body.Length == 0)
        {
            if (strict.Required)
            {
                await ApiSupport.BadRequest("a JSON body is required", [new FieldProblem("$", "required: the request's JSON object")]).ExecuteAsync(http);
                return;
            }
        }
        else if (Problems(body.ToArray(), strict.Shape, out var node) is { Count: > 0 } problems)
        {
            if (node is not null && strict.MoreProblems is { } more) problems.AddRange(await more(http, node));
            await ApiSupport.BadRequest($"invalid {strict.What} ({problems.Count} problem{(problems.Count == 1 ? "" : "s")})", problems).ExecuteAsync(http);
            return;
        }
        body.Position = 0;
        http.Request.Body = body;
        await next(http);
    });

    /// <summary>Every problem of <paramref name="utf8"/> against <paramref name="shape"/> (a body that is not JSON: where it stops being JSON).</summary>
    public static List<FieldProblem> Problems(byte[] utf8, JsonShape shape, out JsonNode? node)
    {
        node = null;
        try
        {
            // Parsed as the binder will read it: no comments, no trailing commas; a repeated name is refused, not last-wins.
            node = JsonNode.Parse(utf8, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false });
        }
        catch (JsonException e)
        {
            return [new FieldProblem(e.Path ?? "$", $"not valid JSON: {e.Message}") { Line = (int?)e.LineNumber + 1, Column = (int?)e.BytePositionInLine + 1 }];
        }
        var problems = new List<FieldProblem>();
        if (node is null) problems.Add(new FieldProblem("$", "must be an object, got null"));
        shape.Check(node, "$", problems);
        return problems;
    }

    private static Task TooLarge(HttpContext http) =>
        ApiSupport.Problem(StatusCodes.Status413PayloadTooLarge, $"request body over {MaxJsonBodyBytes >> 20} MiB, the limit for JSON bodies").ExecuteAsync(http);
}
