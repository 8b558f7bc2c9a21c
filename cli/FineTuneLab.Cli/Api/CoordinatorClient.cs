using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.Cli.Config;

namespace FineTuneLab.Cli.Api;

/// <summary>The coordinator's REST API (docs/api.md) over one HttpClient: JSON calls, raw downloads, uploads and SSE streams.</summary>
public sealed class CoordinatorClient : IDisposable
{
    private static readonly JsonDocumentOptions Lenient = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };
    private readonly HttpClient _http;

    public CoordinatorClient(Connection connection)
    {
        BaseUrl = connection.Url;
        // No overall timeout: uploads, downloads and followed streams last as long as they need; Ctrl-C cancels them.
        _http = new HttpClient { BaseAddress = connection.Url, Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("ftl", typeof(CoordinatorClient).Assembly.GetName().Version?.ToString(3) ?? "1.0.0"));
        if (connection.ApiKey is { } key) _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
    }

    public Uri BaseUrl { get; }

    /// <summary>The dashboard page of a job.</summary>
    public string DashboardUrl(string jobId) => new Uri(BaseUrl, "jobs/" + Uri.EscapeDataString(jobId)).ToString();

    public Task<JsonNode> GetJsonAsync(string path, CancellationToken cancellationToken) =>
        SendJsonAsync(HttpMethod.Get, path, null, cancellationToken);

    public async Task<JsonNode> SendJsonAsync(HttpMethod method, string path, JsonNode? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, Relative(path));
        if (body is not null) request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        return await ReadJsonAsync(response, cancellationToken);
    }

    /// <summary>A response's body as JSON (an empty body is an empty object).</summary>
    public static async Task<JsonNode> ReadJsonAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        try
        {
            return JsonNode.Parse(string.IsNullOrWhiteSpace(text) ? "null" : text, documentOptions: Lenient) ?? new JsonObject();
        }
        catch (JsonException e)
        {
            throw new CliFailure($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: the coordinator answered something that is not JSON ({e.Message})");
        }
    }

    /// <summary>A response whose body is still to be read (downloads, SSE); the caller disposes it. Errors throw <see cref="ApiException"/>.</summary>
    public async Task<HttpResponseMessage> OpenAsync(string path, CancellationToken cancellationToken, string? accept = null, string? lastEventId = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, Relative(path));
        if (accept is not null) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
        return await SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }

    /// <summary>
    /// Whether the blob store already holds an artifact: <c>GET /api/artifacts/{sha256}</c> answers 200 or 404; only the
    /// headers are read and the body is abandoned, so nothing large travels.
    /// </summary>
    public async Task<bool> ArtifactExistsAsync(string sha256, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Relative($"api/artifacts/{sha256}"));
        using var response = await Send(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound) return false;
        if (response.IsSuccessStatusCode) return true;
        throw ApiException.From(response.StatusCode, response.ReasonPhrase, await response.Content.ReadAsStringAsync(cancellationToken));
    }

    /// <summary><c>POST /api/artifacts?name=&amp;kind=</c> with the file's bytes; answers the coordinator's <c>{sha256, size_bytes, name, kind}</c>.</summary>
    public async Task<JsonNode> UploadAsync(string file, string name, string kind, CancellationToken cancellationToken)
    {
        await using var stream = File.OpenRead(file);
        using var request = new HttpRequestMessage(HttpMethod.Post, Relative($"api/artifacts?name={Uri.EscapeDataString(name)}&kind={Uri.EscapeDataString(kind)}"))
        {
            Content = new StreamContent(stream, 1 << 20) { Headers = { ContentType = new MediaTypeHeaderValue("application/octet-stream"), ContentLength = stream.Length } },
        };
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken)) ?? new JsonObject();
    }

    /// <summary>Follows an SSE endpoint until the server ends it.</summary>
    public async IAsyncEnumerable<SseEvent> StreamAsync(string path, string? lastEventId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var response = await OpenAsync(path, cancellationToken, "text/event-stream", lastEventId);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        await foreach (var e in SseEvent.ReadAllAsync(body, cancellationToken))
            yield return e;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        var response = await Send(request, completion, cancellationToken);
        if (response.IsSuccessStatusCode) return response;
        using (response)
            throw ApiException.From(response.StatusCode, response.ReasonPhrase, await response.Content.ReadAsStringAsync(cancellationToken));
    }

    private async Task<HttpResponseMessage> Send(HttpRequestMessage request, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        try
        {
            return await _http.SendAsync(request, completion, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new CliFailure($"cannot reach the coordinator at {BaseUrl}: {e.Message}");
        }
    }

    // Paths are relative to the base URL, so a coordinator served under a prefix (https://host/ftl/) works too.
    private static string Relative(string path) => path.TrimStart('/');

    public void Dispose() => _http.Dispose();
}
