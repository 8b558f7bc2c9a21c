using System.Net;
using System.Text;
using FineTuneLab.Coordinator.Api;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Security;
using Microsoft.Extensions.DependencyInjection;
using static FineTuneLab.Coordinator.Tests.Api.StrictApiFixture;

namespace FineTuneLab.Coordinator.Tests.Api;

/// <summary>Every JSON body and query parameter of the REST API is strict: a client's mistake is a 400 (413, 429) naming where, never a 500.</summary>
public sealed class StrictInputTests(StrictApiFixture fx) : IClassFixture<StrictApiFixture>
{
    private const string Spec = """{"model": {"path": "/m"}, "data": {"train": "/d.jsonl"}}""";

    [Fact]
    public async Task A_submission_with_many_mistakes_lists_every_one_with_its_path()
    {
        var name = new string('n', 201);
        var body = $$"""
            {"name": 42, "project": ["a"], "priority": "high", "spec": {{Spec}},
             "resources": {"device": "tpu", "min_gpu_memory_gb": -1, "gpu_kinds": ["H100", 7], "max_price_per_hour": -0.5, "gpu_kind": "A100"},
             "budget": {"max_usd": "25", "max_hours": 0, "max_dolars": 5},
             "anomaly_policy": {"nan_loss": "explode"},
             "specc": {} }
            """;
        var (status, problem) = await fx.PostJsonAsync("/api/jobs", body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var details = Details(problem);
        Assert.Contains("$.name: must be a string, got a number", details);
        Assert.Contains("$.project: must be a string, got an array", details);
        Assert.Contains("$.priority: must be a whole number, got a string", details);
        Assert.Contains(details, d => d.StartsWith("$.resources.device: must be one of auto, cpu, cuda", StringComparison.Ordinal));
        Assert.Contains(details, d => d.StartsWith("$.resources.min_gpu_memory_gb: must be at least 0", StringComparison.Ordinal));
        Assert.Contains("$.resources.gpu_kinds[1]: must be a string, got a number", details);
        Assert.Contains(details, d => d.StartsWith("$.resources.max_price_per_hour: must be at least 0", StringComparison.Ordinal));
        Assert.Contains("$.resources.gpu_kind: unknown field; did you mean gpu_kinds?", details);
        Assert.Contains("$.budget.max_usd: must be a number, got a string", details);
        Assert.Contains(details, d => d.StartsWith("$.budget.max_hours: must be above 0", StringComparison.Ordinal));
        Assert.Contains("$.budget.max_dolars: unknown field; did you mean max_usd?", details);
        Assert.Contains("$.specc: unknown field; did you mean spec?", details);
        // The handler's own checks ran too: the anomaly policy's parser and the trainer's validation of the spec.
        Assert.Contains(details, d => d.StartsWith("$.anomaly_policy.nan_loss: ", StringComparison.Ordinal) && d.Contains("'explode'"));
        Assert.Contains("$.spec.lora.r: must be at least 1", details);
        Assert.Equal(14, details.Count);
        Assert.Equal("invalid job (14 problems)", problem["error"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("""{"priority": 1000000000}""", "$.priority: must be at least -1000 and at most 1000, got 1000000000")]
    [InlineData("""{"priority": 1.5}""", "$.priority: must be a whole number, got 1.5")]
    [InlineData("""{"budget": {"max_usd": 1e400}}""", "$.budget.max_usd: must be above 0 and at most 1000000, got 1e400")]
    [InlineData("""{"budget": {"max_usd": 1e12}}""", "$.budget.max_usd: must be above 0 and at most 1000000, got 1e12")]
    [InlineData("""{"budget": {"max_usd": "NaN"}}""", "$.budget.max_usd: must be a number, got a string")]
    [InlineData("""{"budget": [1]}""", "$.budget: must be an object, got an array")]
    [InlineData("""{"spec": [1]}""", "$.spec: must be an object, got an array")]
    [InlineData("""{"name": "a\nb"}""", "$.name: must not contain a control character (U+000A)")]
    [InlineData("""{"name": "evil\u202Egpj"}""", "$.name: must not contain a bidirectional control character (U+202E)")]
    [InlineData("""{"resources": {"gpu_kinds": "H100"}}""", "$.resources.gpu_kinds: must be an array, got a string")]
    [InlineData("""{"bogus_field_name": 1}""", "$.bogus_field_name: unknown field (known: name, project, priority, spec, resources, budget, anomaly_policy)")]
    public async Task One_mistake_in_a_submission_is_named_with_its_path(string body, string expected)
    {
        var (status, problem) = await fx.PostJsonAsync("/api/jobs", body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(expected, Details(problem));
    }

    [Fact]
    public async Task Over_long_names_and_bodies_that_are_not_json_or_absent_are_refused()
    {
        var (status, problem) = await fx.PostJsonAsync("/api/jobs", $$"""{"name": "{{new string('x', 201)}}", "project": "{{new string('p', 101)}}", "spec": {} }""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(["$.name: is 201 characters long; at most 200 are allowed", "$.project: is 101 characters long; at most 100 are allowed",
            "$.spec.lora.r: must be at least 1"], Details(problem));

        (status, problem) = await fx.PostJsonAsync("/api/jobs", """{"name": "a", "spec": {""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("not valid JSON", Details(problem).Single());

        (status, problem) = await fx.PostJsonAsync("/api/jobs", """{"name": "a", "name": "b"}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("not valid JSON", Details(problem).Single());

        (status, problem) = await fx.PostJsonAsync("/api/jobs", "");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("a JSON body is required", problem["error"]!.GetValue<string>());

        (status, problem) = await fx.PostJsonAsync("/api/jobs", "null");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(["$: must be an object, got null"], Details(problem));
    }

    [Fact]
    public async Task A_json_body_over_a_mebibyte_answers_413_with_a_message()
    {
        var (status, problem) = await fx.PostJsonAsync("/api/jobs", $$"""{"name": "{{new string('x', StrictBodies.MaxJsonBodyBytes)}}"}""");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal("request body over 1 MiB, the limit for JSON bodies", problem["error"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_command_body_is_strict_too_and_may_be_absent()
    {
        var (status, problem) = await fx.PostJsonAsync($"/api/jobs/{fx.JobId}/resume", """{"budget": {"max_dolars": 5, "max_hours": -1}}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(["$.budget.max_dolars: unknown field; did you mean max_usd?", "$.budget.max_hours: must be above 0 and at most 87600, got -1"],
            Details(problem));
        (status, problem) = await fx.PostJsonAsync($"/api/jobs/{fx.JobId}/pause", """{"budjet": {}}""");
        Assert.Equal(["$.budjet: unknown field; did you mean budget?"], Details(problem));

        // No body at all (the dashboard's buttons): the command runs; a queued job cannot pause, which is a 409, not a 400.
        using var response = await fx.Http.PostAsync($"/api/jobs/{fx.JobId}/pause", null);
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
    }

    [Theory]
    [InlineData("/api/jobs?limit=abc", "query parameter 'limit' must be a whole number, got 'abc'")]
    [InlineData("/api/jobs?limit=0", "query parameter 'limit' must be from 1 to 1000, got 0")]
    [InlineData("/api/jobs?limit=5000", "query parameter 'limit' must be from 1 to 1000, got 5000")]
    [InlineData("/api/jobs?offset=-1", "query parameter 'offset' must be from 0 to 2147483647, got -1")]
    [InlineData("/api/jobs?state=sleeping", "query parameter 'state' must be one of queued, assigned, running, paused, stopping, succeeded, failed, stopped, cancelled, got 'sleeping'")]
    [InlineData("/api/jobs/JOB/events?after_seq=x", "query parameter 'after_seq' must be a whole number, got 'x'")]
    [InlineData("/api/jobs/JOB/events?after_seq=-3", "query parameter 'after_seq' must be from 0 to 9223372036854775807, got -3")]
    [InlineData("/api/jobs/JOB/metrics?format=xml", "query parameter 'format' must be one of json, csv, got 'xml'")]
    [InlineData("/api/jobs/JOB/metrics?shape=flat", "query parameter 'shape' must be one of tensorboard, got 'flat'")]
    [InlineData("/api/jobs/JOB/logs?level=loud", "query parameter 'level' must be one of debug, info, warning, error, got 'loud'")]
    [InlineData("/api/jobs/JOB/logs?limit=0", "query parameter 'limit' must be from 1 to 100000, got 0")]
    [InlineData("/api/jobs/JOB/logs?follow=maybe", "query parameter 'follow' must be true or false, got 'maybe'")]
    [InlineData("/api/jobs/JOB/stream?after_seq=-1", "query parameter 'after_seq' must be from 0 to 9223372036854775807, got -1")]
    [InlineData("/api/jobs/JOB/telemetry?max_points=1", "max_points must be an integer from 2 to 10000, got '1'")]
    [InlineData("/api/jobs/JOB/cost?format=pdf", "format 'pdf' is not one of json, csv")]
    public async Task A_bad_query_parameter_answers_400_naming_it(string path, string expected)
    {
        var (status, problem) = await fx.GetAsync(path.Replace("JOB", fx.JobId, StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(expected, problem["error"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_bad_dry_run_flag_and_a_bad_last_event_id_are_named()
    {
        var (status, problem) = await fx.PostJsonAsync("/api/jobs?dry_run=perhaps", $$"""{"spec": {{Spec}}}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("query parameter 'dry_run' must be true or false, got 'perhaps'", problem["error"]!.GetValue<string>());

        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/jobs/{fx.JobId}/stream");
        request.Headers.Add("Last-Event-ID", "abc");
        using var response = await fx.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("header 'Last-Event-ID' must be an event id (a whole number), got 'abc'", (await BodyOf(response))["error"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("a\u0000b.jsonl", "query parameter 'name' must not contain a control character (U+0000)")]
    [InlineData("a\r\nb.jsonl", "query parameter 'name' must not contain a control character (U+000D)")]
    [InlineData("evil\u202Elnosj.exe", "query parameter 'name' must not contain a bidirectional control character (U+202E)")]
    [InlineData("..", "query parameter 'name' must not contain '..'")]
    [InlineData("a..b", "query parameter 'name' must not contain '..'")]
    [InlineData("dir/train.jsonl", "query parameter 'name' must be a file name without folders (no / or \\)")]
    [InlineData("dir\\train.jsonl", "query parameter 'name' must be a file name without folders (no / or \\)")]
    public async Task An_artifact_name_with_control_bidi_or_path_characters_is_refused(string name, string expected)
    {
        using var response = await fx.Http.PostAsync($"/api/artifacts?name={Uri.EscapeDataString(name)}&kind=dataset", new ByteArrayContent("x"u8.ToArray()));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(expected, (await BodyOf(response))["error"]!.GetValue<string>());
    }

    [Fact]
    public async Task An_upload_streams_up_to_the_configured_maximum_and_beyond_it_answers_413()
    {
        var max = fx.MaxUploadBytes;
        Assert.Equal(1073, max);
        using (var fits = await fx.Http.PostAsync("/api/artifacts?name=fits.bin", new ByteArrayContent(new byte[max])))
            Assert.Equal(HttpStatusCode.Created, fits.StatusCode);

        // Declared too large: refused before a byte is read.
        using (var declared = await fx.Http.PostAsync("/api/artifacts?name=big.bin", new ByteArrayContent(new byte[max + 1])))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, declared.StatusCode);
            Assert.Equal($"upload over {max} bytes, the coordinator's limit (--max-upload-gb)", (await BodyOf(declared))["error"]!.GetValue<string>());
        }

        // Chunked (no length): cut off while streaming, the partial file removed.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/artifacts?name=chunked.bin") { Content = new ByteArrayContent(new byte[max + 500]) };
        request.Content.Headers.ContentLength = null;
        request.Headers.TransferEncodingChunked = true;
        using var chunked = await fx.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, chunked.StatusCode);
        Assert.Equal($"upload over {max} bytes, the coordinator's limit (--max-upload-gb)", (await BodyOf(chunked))["error"]!.GetValue<string>());
        Assert.Empty(Directory.GetFiles(Path.Combine(fx.DataDir, "uploads"), "put-*"));
    }

    [Fact]
    public async Task Submissions_beyond_the_validator_queue_answer_429_with_retry_after()
    {
        var slots = fx.Host.Services.GetRequiredService<ValidatorSlots>();
        var held = new List<IDisposable>();
        for (var i = 0; i < slots.Running; i++) held.Add((await slots.TryEnterAsync(CancellationToken.None))!);
        using var stop = new CancellationTokenSource();
        var waiting = Enumerable.Range(0, slots.Waiting).Select(_ => slots.TryEnterAsync(stop.Token)).ToList();
        try
        {
            Assert.All(waiting, w => Assert.False(w.IsCompleted));
            using var response = await fx.Http.PostAsync("/api/jobs?dry_run=true", new StringContent($$"""{"spec": {{Spec}}}""", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(ValidatorSlots.RetryAfterSeconds), response.Headers.RetryAfter!.Delta);
            Assert.StartsWith("too many job validations at once", (await BodyOf(response))["error"]!.GetValue<string>());
        }
        finally
        {
            stop.Cancel();
            await Task.WhenAll(waiting.Select(w => w.ContinueWith(_ => { })));
            held.ForEach(h => h.Dispose());
        }
        // Freed again: a slot is there at once.
        using var again = await slots.TryEnterAsync(CancellationToken.None);
        Assert.NotNull(again);
    }

    [Fact]
    public async Task The_api_key_guards_api_routes_and_metrics_but_not_healthz()
    {
        using var anonymous = new HttpClient { BaseAddress = fx.Http.BaseAddress };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/jobs")).StatusCode);
        anonymous.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", StrictApiFixture.ApiKey + "x");
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz")).StatusCode);
        using var metrics = await fx.Http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        Assert.Contains("ftl_jobs{state=\"queued\"} 1", await metrics.Content.ReadAsStringAsync());
    }
}

/// <summary>The key compare and the suggestion, as functions.</summary>
public sealed class StrictInputUnitTests
{
    [Fact]
    public void The_key_compare_is_exact_whatever_the_lengths()
    {
        Assert.True(Secrets.FixedTimeEquals("Bearer k3y", "Bearer k3y"));
        Assert.False(Secrets.FixedTimeEquals("Bearer k3x", "Bearer k3y"));
        Assert.False(Secrets.FixedTimeEquals("Bearer k3", "Bearer k3y"));
        Assert.False(Secrets.FixedTimeEquals("Bearer k3yy", "Bearer k3y"));
        Assert.False(Secrets.FixedTimeEquals("", "Bearer k3y"));
        Assert.False(Secrets.FixedTimeEquals(null, "Bearer k3y"));
        Assert.True(Secrets.FixedTimeEquals("Bearer ключ", "Bearer ключ"));
    }

    [Theory]
    [InlineData("max_dolars", "unknown field; did you mean max_usd?")]
    [InlineData("max_usdd", "unknown field; did you mean max_usd?")]
    [InlineData("MAX_HOURS", "unknown field; did you mean max_hours?")]
    [InlineData("max_hour", "unknown field; did you mean max_hours?")]
    [InlineData("wallet", "unknown field (known: max_usd, max_hours)")]
    public void An_unknown_field_gets_the_nearest_known_name_or_alias_when_it_is_a_slip(string name, string expected) =>
        Assert.Equal(expected, JsonShape.UnknownField(name, ["max_usd", "max_hours"], new Dictionary<string, string> { ["max_dollars"] = "max_usd" }));

    [Fact]
    public void Edit_distance_counts_inserts_deletes_and_substitutions() =>
        Assert.Equal([0, 1, 1, 1, 3], new[] { ("abc", "abc"), ("abc", "abd"), ("abc", "ab"), ("ab", "abc"), ("kitten", "sitting") }
            .Select(p => JsonShape.EditDistance(p.Item1, p.Item2)));

    [Fact]
    public async Task A_coordinator_without_an_api_key_warns_at_startup_and_takes_uploads_past_kestrels_default_limit()
    {
        var dir = Directory.CreateTempSubdirectory("ftl-nokey-").FullName;
        var log = new CapturedLog();
        var logger = new Serilog.LoggerConfiguration().MinimumLevel.Information().WriteTo.Sink(log).CreateLogger();
        var host = CoordinatorHost.Create(new CoordinatorOptions(dir, new Uri($"http://127.0.0.1:{FreePort()}"), new Uri($"http://127.0.0.1:{FreePort()}")), logger);
        try
        {
            await host.StartAsync();
            Assert.Contains(log.Messages(), m => m.Level == Serilog.Events.LogEventLevel.Warning && m.Text.Contains("every REST route (/api/*, /metrics) is unauthenticated"));
            using var http = new HttpClient();
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(host.Options.HttpUrl + "metrics")).StatusCode);
            // Kestrel's default request limit is 30,000,000 bytes; the upload route's is --max-upload-gb (default 200 GiB).
            var bytes = new byte[30_000_000 + 4096];
            bytes[^1] = 7;
            using var upload = await http.PostAsync(host.Options.HttpUrl + "api/artifacts?name=model.tar&kind=model", new ByteArrayContent(bytes));
            Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
            Assert.Equal(bytes.Length, (await StrictApiFixture.BodyOf(upload))["size_bytes"]!.GetValue<long>());
        }
        finally
        {
            await host.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }
}
