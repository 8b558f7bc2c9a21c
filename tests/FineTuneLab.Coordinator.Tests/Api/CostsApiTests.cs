using FineTuneLab.Coordinator.Jobs;
using Microsoft.Extensions.DependencyInjection;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Api;
using FineTuneLab.Coordinator.Tests.Jobs;

namespace FineTuneLab.Coordinator.Tests.Api;

/// <summary>A coordinator in this process (HTTP on loopback, its own store) holding the jobs of <see cref="CostScenario"/>.</summary>
public sealed class CostsApiFixture : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ftl-costs-api-").FullName;
    private CoordinatorHost? _host;
    public CoordinatorHost Host => _host!;

    public HttpClient Http { get; } = new();
    public CoordinatorRuntime Runtime => _host!.Runtime!;
    internal CostScenario Scenario { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var (httpPort, grpcPort) = (FreePort(), FreePort());
        _host = CoordinatorHost.Create(new CoordinatorOptions(_dir, new Uri($"http://127.0.0.1:{httpPort}"), new Uri($"http://127.0.0.1:{grpcPort}")),
            Serilog.Core.Logger.None);
        await _host.StartAsync();
        Http.BaseAddress = new Uri($"http://127.0.0.1:{httpPort}");
        var rt = _host.Runtime!;
        Scenario = CostScenario.Build(rt.Agents, rt.Jobs, rt.Ingest);
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        if (_host is not null) await _host.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    public async Task<JsonObject> GetJsonAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!.AsObject();
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}

public sealed class CostsApiTests(CostsApiFixture fx) : IClassFixture<CostsApiFixture>
{
    private CostScenario S => fx.Scenario;

    private static string Rows(JsonObject answer) => string.Join("; ", answer["rows"]!.AsArray().Select(r =>
        $"{r!["key"]} {r["label"]} ${r["spent_usd"]} {r["hours"]}h {r["jobs"]}"));

    private async Task<double> SpentOfAllJobsAsync()
    {
        var total = 0.0;
        foreach (var id in new[] { S.Alpha, S.Beta, S.Gamma, S.Delta })
            total += (await fx.GetJsonAsync($"/api/jobs/{id}"))["cost"]!["spent_usd"]!.GetValue<double>();
        return total;
    }

    [Fact]
    public async Task Spend_is_sliced_per_utc_day_project_agent_and_job_and_every_slicing_sums_to_the_jobs_own_spend()
    {
        var spent = await SpentOfAllJobsAsync();
        Assert.Equal(20.3, spent, 6);

        var byDay = await fx.GetJsonAsync("/api/costs?group_by=day");
        Assert.Equal("2020-02-28 2020-02-28 $3.6 1h 1; 2020-02-29 2020-02-29 $9 1.75h 1; 2020-03-01 2020-03-01 $7.7 1.277777778h 2", Rows(byDay));
        Assert.Equal("day", byDay["group_by"]!.GetValue<string>());
        Assert.Null(byDay["from"]);

        var byProject = await fx.GetJsonAsync("/api/costs?group_by=project");
        Assert.Equal("research research $13.1 3.027777778h 2;  (no project) $7.2 1h 1", Rows(byProject));

        var byAgent = await fx.GetJsonAsync("/api/costs?group_by=agent");
        Assert.Equal($"{S.NodeB} node-b $12.6 1.75h 2; {S.NodeA} node-a $7.2 2h 1; {S.NodeC} node-c $0.5 0.277777778h 1", Rows(byAgent));

        var byJob = await fx.GetJsonAsync("/api/costs?group_by=job");
        Assert.Equal($"{S.Alpha} alpha $12.6 2.75h 1; {S.Beta} beta $7.2 1h 1; {S.Delta} delta $0.5 0.277777778h 1", Rows(byJob));

        foreach (var answer in new[] { byDay, byProject, byAgent, byJob })
        {
            Assert.Equal(spent, answer["total_usd"]!.GetValue<double>(), 6);
            Assert.Equal(spent, answer["rows"]!.AsArray().Sum(r => r!["spent_usd"]!.GetValue<double>()), 6);
        }
    }

    [Fact]
    public async Task A_day_range_keeps_only_its_days()
    {
        var leapDay = await fx.GetJsonAsync("/api/costs?group_by=agent&from=2020-02-29&to=2020-02-29");
        Assert.Equal($"{S.NodeB} node-b $5.4 0.75h 1; {S.NodeA} node-a $3.6 1h 1", Rows(leapDay));
        Assert.Equal(9.0, leapDay["total_usd"]!.GetValue<double>(), 9);
        Assert.Equal("2020-02-29", leapDay["from"]!.GetValue<string>());

        var fromMarch = await fx.GetJsonAsync("/api/costs?group_by=job&from=2020-03-01");
        Assert.Equal(7.7, fromMarch["total_usd"]!.GetValue<double>(), 9);
        Assert.Empty((await fx.GetJsonAsync("/api/costs?to=2019-12-31"))["rows"]!.AsArray());
    }

    [Fact]
    public async Task Costs_as_csv_have_a_header_and_one_row_per_slice_with_the_same_figures()
    {
        using var response = await fx.Http.GetAsync("/api/costs?group_by=job&format=csv");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/csv", response.Content.Headers.ContentType!.MediaType);
        var lines = (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("key,label,spent_usd,hours,jobs", lines[0]);
        Assert.Equal([$"{S.Alpha},alpha,12.6,2.75,1", $"{S.Beta},beta,7.2,1,1", $"{S.Delta},delta,0.5,0.277777778,1"], lines[1..]);
        Assert.Equal(20.3, lines[1..].Sum(l => double.Parse(l.Split(',')[2], CultureInfo.InvariantCulture)), 9);

        var json = await fx.GetJsonAsync("/api/costs?group_by=day");
        var csvDays = (await fx.Http.GetStringAsync("/api/costs?group_by=day&format=csv")).Split('\n', StringSplitOptions.RemoveEmptyEntries)[1..];
        Assert.Equal(json["rows"]!.AsArray().Select(r => $"{r!["key"]},{r["label"]},{r["spent_usd"]},{r["hours"]},{r["jobs"]}"), csvDays);
    }

    [Theory]
    [InlineData("LaBeL", "LaBeL")]
    [InlineData("tune, then eval", "\"tune, then eval\"")]
    [InlineData("the \"big\" one", "\"the \"\"big\"\" one\"")]
    [InlineData("two\nlines", "\"two\nlines\"")]
    public void Csv_fields_are_quoted_when_they_must_be(string field, string expected) =>
        Assert.Equal(expected, CostsEndpoints.CsvField(field));

    [Theory]
    [InlineData("/api/costs?group_by=week", "group_by 'week' is not one of day, project, agent, job")]
    [InlineData("/api/costs?from=2020-13-01", "from '2020-13-01' is not a date (YYYY-MM-DD, UTC)")]
    [InlineData("/api/costs?to=yesterday", "to 'yesterday' is not a date (YYYY-MM-DD, UTC)")]
    [InlineData("/api/costs?from=2020-03-02&to=2020-03-01", "from (2020-03-02) is after to (2020-03-01)")]
    [InlineData("/api/costs?format=xml", "format 'xml' is not one of json, csv")]
    public async Task Bad_parameters_are_refused_with_what_is_wrong(string path, string error)
    {
        using var response = await fx.Http.GetAsync(path);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(error, JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!.GetValue<string>());
    }

    private static long Ms(string iso) => DateTimeOffset.Parse(iso, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();

    [Fact]
    public async Task A_jobs_cost_over_time_climbs_with_each_report_across_restarts_and_ends_at_its_spend()
    {
        var alpha = await fx.GetJsonAsync($"/api/jobs/{S.Alpha}/cost");
        Assert.Equal(
            $"[[{Ms("2020-02-29T01:00:00Z")},7.2],[{Ms("2020-02-29T02:30:00Z")},10.8],[{Ms("2020-02-29T02:45:00Z")},12.6]]",
            alpha["points"]!.ToJsonString());
        Assert.Equal(12.6, alpha["spent_usd"]!.GetValue<double>(), 9);
        Assert.Equal(0, alpha["rate_usd_per_hour"]!.GetValue<double>());
        Assert.Equal(12.6, alpha["projected_usd"]!.GetValue<double>(), 9);
        Assert.Equal("final", alpha["projection_basis"]!.GetValue<string>());

        var delta = await fx.GetJsonAsync($"/api/jobs/{S.Delta}/cost");
        Assert.Equal($"[[{Ms("2020-03-01T12:00:00Z")},0.5]]", delta["points"]!.ToJsonString());
        Assert.Equal(1.8, delta["rate_usd_per_hour"]!.GetValue<double>());
        // 45 steps of 1000 tokens left at 100 tokens/s: 450 s more at $1.80/h.
        Assert.Equal(0.725, delta["projected_usd"]!.GetValue<double>(), 9);
        Assert.Equal("current_throughput", delta["projection_basis"]!.GetValue<string>());

        Assert.Empty((await fx.GetJsonAsync($"/api/jobs/{S.Gamma}/cost"))["points"]!.AsArray());

        var csv = (await fx.Http.GetStringAsync($"/api/jobs/{S.Alpha}/cost?format=csv")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["unix_ms,time,spent_usd", $"{Ms("2020-02-29T01:00:00Z")},2020-02-29T01:00:00.000Z,7.2",
            $"{Ms("2020-02-29T02:30:00Z")},2020-02-29T02:30:00.000Z,10.8", $"{Ms("2020-02-29T02:45:00Z")},2020-02-29T02:45:00.000Z,12.6"], csv);

        Assert.Equal(HttpStatusCode.NotFound, (await fx.Http.GetAsync("/api/jobs/job_nope/cost")).StatusCode);
    }

    [Fact]
    public async Task A_steps_cost_in_the_metrics_counts_the_spend_of_earlier_runs_at_their_own_price()
    {
        var csv = (await fx.Http.GetStringAsync($"/api/jobs/{S.Alpha}/metrics?format=csv")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var cost = csv[1..].Select(l => l.Split(',')).ToDictionary(f => f[0], f => f[^1]);
        Assert.Equal("0.6", cost["10"]);  // 600 s into the first run at $3.60/h
        Assert.Equal("9", cost["20"]);    // $7.20 spent on node-a, then 900 s at $7.20/h
    }

    [Fact]
    public async Task A_checkpoint_lists_the_metrics_of_its_step()
    {
        var checkpoint = (await fx.Http.GetStringAsync($"/api/jobs/{S.Alpha}/checkpoints"));
        var only = Assert.Single(JsonNode.Parse(checkpoint)!.AsArray())!;
        Assert.Equal(10, only["step"]!.GetValue<long>());
        Assert.Equal("""{"loss":0.3,"eval_loss":null,"token_accuracy":null,"cost_usd":0.6}""", only["metrics"]!.ToJsonString());
    }

    [Fact]
    public async Task One_metric_series_exports_in_tensorboards_csv_shape()
    {
        var board = await fx.Http.GetStringAsync($"/api/jobs/{S.Alpha}/metrics?shape=tensorboard&series=loss");
        Assert.Equal($"Wall time,Step,Value\n{Ms("2020-02-28T23:10:00Z") / 1000},10,0.3\n{Ms("2020-02-29T02:15:00Z") / 1000},20,0.15\n", board);
        Assert.Equal("Wall time,Step,Value\n", await fx.Http.GetStringAsync($"/api/jobs/{S.Alpha}/metrics?shape=tensorboard&series=eval_loss"));
        using var noSeries = await fx.Http.GetAsync($"/api/jobs/{S.Alpha}/metrics?shape=tensorboard");
        Assert.Equal(HttpStatusCode.BadRequest, noSeries.StatusCode);
        Assert.Contains("needs series", await noSeries.Content.ReadAsStringAsync());
    }

    [Fact]
    public void A_long_series_is_thinned_evenly_keeping_its_ends()
    {
        var points = Enumerable.Range(0, 10_001).Select(i => ((long)i, (double)i)).ToList();
        var thin = CostsEndpoints.Thin(points, 2000);
        Assert.Equal(2000, thin.Count);
        Assert.Equal((0L, 0.0), thin[0]);
        Assert.Equal((10_000L, 10_000.0), thin[^1]);
        Assert.True(thin.Zip(thin.Skip(1)).All(p => p.Second.Item1 - p.First.Item1 is 5 or 6));
    }

    [Fact]
    public async Task Every_job_shows_its_cost_projection_budget_state_and_restarts_whatever_its_state()
    {
        string Line(JsonObject j) =>
            $"{j["state"]} spent {j["cost"]!["spent_usd"]} rate {j["cost"]!["rate_usd_per_hour"]} projected {j["cost"]!["projected_usd"]?.ToString() ?? "null"}" +
            $" budget {j["budget"]!["state"]} {j["budget"]!["fraction"]?.ToString() ?? "null"} restarts {j["restarts"]}";

        var alpha = await fx.GetJsonAsync($"/api/jobs/{S.Alpha}");
        Assert.Equal("succeeded spent 12.6 rate 0 projected 12.6 budget above_50_percent 0.63 restarts 1", Line(alpha));

        var beta = await fx.GetJsonAsync($"/api/jobs/{S.Beta}");
        Assert.Equal("stopped spent 7.2 rate 0 projected null budget unlimited null restarts 0", Line(beta));
        Assert.Contains("no training steps", beta["cost"]!["projection_reason"]!.GetValue<string>());

        var gamma = await fx.GetJsonAsync($"/api/jobs/{S.Gamma}");
        Assert.Equal("queued spent 0 rate 0 projected null budget within_budget 0 restarts 0", Line(gamma));
        Assert.StartsWith("not run yet", gamma["cost"]!["projection_reason"]!.GetValue<string>());
        Assert.Equal(5, gamma["budget"]!["max_hours"]!.GetValue<double>());

        var delta = await fx.GetJsonAsync($"/api/jobs/{S.Delta}");
        Assert.Equal("running spent 0.5 rate 1.8 projected 0.725 budget above_50_percent 0.625 restarts 0", Line(delta));
        Assert.Null(delta["cost"]!["projection_reason"]);

        // The list answers the same cost, budget and restarts for each job.
        var list = (await fx.GetJsonAsync("/api/jobs?limit=10"))["jobs"]!.AsArray().ToDictionary(j => j!["id"]!.GetValue<string>(), j => Line(j!.AsObject()));
        Assert.Equal(Line(alpha), list[S.Alpha]);
        Assert.Equal(Line(beta), list[S.Beta]);
        Assert.Equal(Line(gamma), list[S.Gamma]);
        Assert.Equal(Line(delta), list[S.Delta]);
    }

    [Fact]
    public async Task Coordinator_events_are_in_the_events_feed_and_the_stream_once_each()
    {
        async Task<int> Count(string type) => (await fx.GetJsonAsync($"/api/jobs/{S.Alpha}/events?type={type}"))["events"]!.AsArray().Count;
        Assert.Equal(2, await Count("assigned"));
        Assert.Equal(1, await Count("requeued"));
        Assert.Equal(7, await Count("state"));

        var assigned = (await fx.GetJsonAsync($"/api/jobs/{S.Alpha}/events?type=assigned"))["events"]!.AsArray()[1]!["data"]!;
        Assert.Equal($"{S.NodeB} node-b 0 NVIDIA H100 80GB HBM3 7.2 1",
            $"{assigned["agent_id"]} {assigned["agent_name"]} {assigned["gpu_index"]} {assigned["gpu_name"]} {assigned["price_per_hour"]} {assigned["restarts"]}");

        var requeued = (await fx.GetJsonAsync($"/api/jobs/{S.Alpha}/events?type=requeued"))["events"]!.AsArray()[0]!["data"]!;
        Assert.Equal($"agent {S.NodeA} was lost; resumes from step 10 ({CostScenario.CheckpointSha}); spent 7.2",
            $"{requeued["reason"]}; resumes from step {requeued["resume_checkpoint"]!["step"]} ({requeued["resume_checkpoint"]!["sha256"]}); spent {requeued["spent_usd"]}");
        Assert.Equal(CostScenario.CheckpointSha, assigned["resume_checkpoint"]!.GetValue<string>());

        // The job has ended, so its stream sends everything from the start and closes.
        var stream = await fx.Http.GetStringAsync($"/api/jobs/{S.Alpha}/stream");
        var types = stream.Split('\n').Where(l => l.StartsWith("event: ", StringComparison.Ordinal)).Select(l => l[7..]).ToList();
        Assert.Equal(2, types.Count(t => t == "assigned"));
        Assert.Equal(1, types.Count(t => t == "requeued"));
        var all = (await fx.GetJsonAsync($"/api/jobs/{S.Alpha}/events"))["events"]!.AsArray();
        var ids = stream.Split('\n').Where(l => l.StartsWith("id: ", StringComparison.Ordinal)).Select(l => long.Parse(l[4..], CultureInfo.InvariantCulture));
        Assert.Equal(all.Select(e => e!["id"]!.GetValue<long>()), ids);
    }

    [Fact]
    public async Task A_live_stream_sends_what_each_commit_publishes_even_when_two_commits_publish_out_of_order()
    {
        var rt = fx.Runtime;
        using var response = await fx.Http.GetAsync($"/api/jobs/{S.Delta}/stream", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        async Task<string> ReadUntilAsync(string message)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            for (string? line; (line = await reader.ReadLineAsync(timeout.Token)) is not null;)
                if (line.StartsWith("data: ", StringComparison.Ordinal) && line.Contains(message, StringComparison.Ordinal)) return line;
            throw new EndOfStreamException(message);
        }
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            while (await reader.ReadLineAsync(timeout.Token) != "event: cost") { } // the backlog has been sent

        // Two commits: the earlier position publishes last (two writers finishing in the other order).
        var (early, late) = (Append("probe_early"), Append("probe_late"));
        rt.Feed.Publish([late]);
        Assert.Contains("probe_late", await ReadUntilAsync("probe_late"));
        rt.Feed.Publish([early]);
        Assert.Contains("probe_early", await ReadUntilAsync("probe_early"));

        JobLogEntry Append(string message)
        {
            using var c = rt.Store.OpenConnection();
            return JobEvents.Append(c, rt.Ingest.Next(), S.Delta, new AnomalyRaised("probe", message, null, "coordinator", "warn", true))!;
        }
    }

    [Fact]
    public async Task Prometheus_exports_the_spend_by_project()
    {
        var text = await fx.Http.GetStringAsync("/metrics");
        Assert.Contains("ftl_spent_usd_total{project=\"\"} 7.2\n", text);
        var research = text.Split('\n').Single(l => l.StartsWith("ftl_spent_usd_total{project=\"research\"} ", StringComparison.Ordinal));
        Assert.Equal(13.1, double.Parse(research.Split(' ')[1], CultureInfo.InvariantCulture), 9);
    }

    [Fact]
    public async Task The_openapi_document_describes_the_cost_routes_and_their_parameters()
    {
        var paths = (await fx.GetJsonAsync("/openapi.json"))["paths"]!;
        var costs = paths["/api/costs"]!["get"]!;
        var groupBy = costs["parameters"]!.AsArray().Single(p => p!["name"]!.GetValue<string>() == "group_by")!;
        Assert.Equal("""["day","project","agent","job"]""", groupBy["schema"]!["enum"]!.ToJsonString());
        Assert.NotNull(costs["responses"]!["200"]!["content"]!["text/csv"]);
        Assert.NotNull(paths["/api/jobs/{id}/cost"]!["get"]);
        // The answer's schema comes from the handler's typed record, in the wire's snake_case.
        var schema = costs["responses"]!["200"]!["content"]!["application/json"]!["schema"]!["$ref"]!.GetValue<string>();
        var properties = (await fx.GetJsonAsync("/openapi.json"))["components"]!["schemas"]![schema.Split('/')[^1]]!["properties"]!.AsObject();
        Assert.Equal(["group_by", "from", "to", "rows", "total_usd", "total_hours"], properties.Select(p => p.Key));
    }

    [Fact]
    public async Task An_error_is_a_problem_details_that_also_carries_error_and_details()
    {
        using var response = await fx.Http.GetAsync("/api/costs?group_by=week");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        const string message = "group_by 'week' is not one of day, project, agent, job";
        Assert.Equal(message, body["error"]!.GetValue<string>());
        Assert.Equal(message, body["detail"]!.GetValue<string>());
        Assert.Equal(400, body["status"]!.GetValue<int>());
        Assert.Empty(body["details"]!.AsArray());

        using var missing = await fx.Http.GetAsync("/api/jobs/job_missing/cost");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("job job_missing not found", JsonNode.Parse(await missing.Content.ReadAsStringAsync())!["error"]!.GetValue<string>());

        // A problem the framework finds itself (a number that is not one) carries the same members.
        using var malformed = await fx.Http.GetAsync("/api/jobs?limit=many");
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        var problem = JsonNode.Parse(await malformed.Content.ReadAsStringAsync())!;
        Assert.Contains("limit", problem["error"]!.GetValue<string>());
        Assert.Empty(problem["details"]!.AsArray());
    }

    [Fact]
    public async Task An_upload_needs_no_content_type()
    {
        using var response = await fx.Http.PostAsync("/api/artifacts?name=notes.txt&kind=file", new ByteArrayContent("hello"u8.ToArray()));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var stored = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(5, stored["size_bytes"]!.GetValue<long>());
        Assert.Equal("hello", await fx.Http.GetStringAsync($"/api/artifacts/{stored["sha256"]!.GetValue<string>()}"));
    }

    [Fact]
    public async Task Every_api_route_the_coordinator_maps_is_in_the_openapi_document()
    {
        var paths = (await fx.GetJsonAsync("/openapi.json"))["paths"]!.AsObject();
        var routes = fx.Host.Services.GetRequiredService<Microsoft.AspNetCore.Routing.EndpointDataSource>().Endpoints
            .OfType<Microsoft.AspNetCore.Routing.RouteEndpoint>()
            // A route group's own route ("" under "/api/jobs") has the raw text "/api/jobs/"; the document names it "/api/jobs".
            .Select(e => (Path: "/" + e.RoutePattern.RawText!.Trim('/'),
                          Methods: e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? []))
            .Where(r => r.Path.StartsWith("/api/", StringComparison.Ordinal) || r.Path is "/metrics" or "/healthz")
            .ToList();
        Assert.NotEmpty(routes);
        var missing = routes.SelectMany(r => r.Methods.Select(m => $"{m} {r.Path}"))
            .Where(key => paths[key[(key.IndexOf(' ') + 1)..]]?[key[..key.IndexOf(' ')].ToLowerInvariant()] is null)
            .ToList();
        Assert.True(missing.Count == 0, "routes missing from /openapi.json: " + string.Join(", ", missing));
        // Nothing in the document that is not mapped: it is generated from the endpoints, not written beside them.
        var unmapped = paths.Select(p => p.Key).Where(p => routes.All(r => r.Path != p)).ToList();
        Assert.True(unmapped.Count == 0, "in /openapi.json but not mapped: " + string.Join(", ", unmapped));
    }
}
