using System.Text.Json.Nodes;
using FineTuneLab.EndToEnd.Tests.ControlPlane;
using Microsoft.Playwright;

namespace FineTuneLab.EndToEnd.Tests.Dashboard;

/// <summary>
/// The dashboard in a real browser (Debian's chromium driven by Playwright's bundled node driver, offline) against a
/// real coordinator and agent: submit from the form, watch the loss and node telemetry charts grow while jobs run,
/// event markers, filter the logs, download a checkpoint, the metrics CSV and the costs CSV and compare their bytes
/// with the API's, and screenshot every page into artifacts/screenshots/dashboard/.
/// </summary>
public sealed class DashboardBrowserTests
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly string[] ChromiumArgs =
        ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"];

    /// <summary>The header of GET /api/costs?format=csv (docs/api.md).</summary>
    private const string CostsCsvHeader = "key,label,spent_usd,hours,jobs";

    /// <summary>Where the pages' screenshots land: the repository's git-ignored build artifacts folder.</summary>
    public static string Screenshots => Path.Combine(FineTuneLab.TestSupport.RepoPaths.Root, "artifacts", "screenshots", "dashboard");

    [Fact]
    public async Task Submit_watch_filter_download_and_every_page_renders()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: scripts/lib/ensure-deps.sh installs Debian's chromium");
        await using var cluster = new ControlPlaneCluster();
        await cluster.StartCoordinatorAsync();
        await cluster.StartAgentAsync("dash-agent", pricePerHour: 1.5);
        var (model, data) = await cluster.UploadSampleInputsAsync();

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ChromiumArgs });
        var context = await browser.NewContextAsync(new() { BaseURL = cluster.Http.BaseAddress!.ToString(), AcceptDownloads = true, ViewportSize = new() { Width = 1400, Height = 1000 } });
        var page = await context.NewPageAsync();
        var problems = new List<string>();
        // HTTP errors are checked by URL below (the deliberate invalid submit answers 400); any other console error fails.
        page.Console += (_, m) => { if (m.Type == "error" && !m.Text.StartsWith("Failed to load resource", StringComparison.Ordinal)) problems.Add("console: " + m.Text); };
        page.Response += (_, r) => { if (r.Status >= 400 && !(r.Status == 400 && r.Url.EndsWith("/api/jobs?dry_run=true", StringComparison.Ordinal))) problems.Add($"HTTP {r.Status}: {r.Url}"); };
        page.PageError += (_, e) => problems.Add("page error: " + e);
        Directory.CreateDirectory(Screenshots);

        // The submit form: a negative budget comes back as a field error; the fixed body validates, then submits.
        await page.GotoAsync("/submit");
        var job = ControlPlaneCluster.Job("dash-job", model, data, steps: 60, checkpointEvery: 20);
        job["budget"] = new JsonObject { ["max_usd"] = -1 };
        await page.FillAsync("#spec", job.ToJsonString());
        await page.ClickAsync("#validate");
        await Assertions.Expect(page.Locator("#problems")).ToContainTextAsync("$.budget.max_usd");
        job["budget"] = new JsonObject { ["max_usd"] = 10 };
        await page.FillAsync("#spec", job.ToJsonString());
        await page.ClickAsync("#validate");
        await Assertions.Expect(page.Locator("#valid")).ToBeVisibleAsync();
        await ShootAsync(page, "submit.png");
        await page.ClickAsync("#submit");
        await page.WaitForURLAsync("**/jobs/job_*");
        var jobId = page.Url[(page.Url.LastIndexOf('/') + 1)..];

        // The loss chart gains points over SSE while the job runs.
        var chart = page.Locator("#loss-chart");
        await page.WaitForFunctionAsync("() => Number(document.querySelector('#loss-chart')?.dataset.points ?? 0) >= 3");
        var early = int.Parse((await chart.GetAttributeAsync("data-points"))!);
        var stateWhileEarly = (await cluster.GetJsonAsync($"/api/jobs/{jobId}"))["state"]!.GetValue<string>();
        Assert.True(stateWhileEarly == "running", $"expected the job to still run after {early} points, it is {stateWhileEarly}");
        await page.WaitForFunctionAsync($"() => Number(document.querySelector('#loss-chart').dataset.points) > {early}");

        // The log view: lines stream in; a search narrows them to the one line of step 7.
        await page.WaitForFunctionAsync("() => Number(document.querySelector('#terminal').dataset.lines ?? 0) > 5");
        // xterm draws only while the terminal is on screen.
        await page.Locator("#terminal").ScrollIntoViewIfNeededAsync();
        await page.FillAsync("#log-q", "step 7/60");
        await page.WaitForFunctionAsync("() => document.querySelector('#terminal').dataset.lines === '1'");
        await Assertions.Expect(page.Locator("#terminal .xterm-rows")).ToContainTextAsync("step 7/60 loss");

        await cluster.WaitForStateAsync(jobId, "succeeded", TimeSpan.FromMinutes(2));
        await Assertions.Expect(page.Locator("#facts")).ToContainTextAsync("succeeded", new() { Timeout = 15_000 });
        var totalRows = (await cluster.GetJsonAsync($"/api/jobs/{jobId}/metrics?format=json"))["rows"]!.AsArray().Count;
        await page.WaitForFunctionAsync($"() => Number(document.querySelector('#loss-chart')?.dataset.points) === {totalRows}");
        await page.FillAsync("#log-q", "");

        // Its checkpoints (steps 20, 40, 60) and its assignment are marked on the loss chart and on the node's charts,
        // and listed; a marker's label shows on keyboard focus. The agent has no GPU: the page says so and charts the
        // host instead.
        await Assertions.Expect(page.Locator("#loss-chart .marker-checkpoint")).ToHaveCountAsync(3);
        await Assertions.Expect(page.Locator("#loss-chart .marker-assigned")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#events tr[data-event-type='checkpoint']")).ToHaveCountAsync(3);
        await Assertions.Expect(page.Locator("#events tr[data-event-type='assigned']")).ToContainTextAsync("assigned to dash-agent");
        var marker = page.Locator("#loss-chart .marker-checkpoint").First;
        await marker.FocusAsync();
        Assert.Equal("checkpoint at step 20", await marker.GetAttributeAsync("data-tip"));
        Assert.Equal("\"checkpoint at step 20\"", await page.EvaluateAsync<string>("() => getComputedStyle(document.activeElement, '::after').content"));
        await Assertions.Expect(page.Locator("#telemetry")).ToHaveAttributeAsync("data-mode", "host");
        await Assertions.Expect(page.Locator("#no-gpu")).ToContainTextAsync("No GPU on this node");
        await page.WaitForFunctionAsync("() => Number(document.querySelector('#host-cpu-chart').dataset.points ?? 0) >= 2 && document.querySelectorAll('#host-cpu-chart .marker').length === 4");
        await page.WaitForFunctionAsync("() => Number(document.querySelector('#host-mem-chart').dataset.points ?? 0) >= 2");
        await page.WaitForFunctionAsync("() => Number(document.querySelector('#cost-chart').dataset.points ?? 0) >= 1");
        await ShootAsync(page, "job.png");
        await CheckTelemetryApiAsync(cluster, jobId);

        // Checkpoints list the metrics of their step (the fake trainer's loss at step 20 is 3 / (1 + 2) = 1).
        await Assertions.Expect(page.Locator("#checkpoints tr[data-step='20'] td").Nth(1)).ToHaveTextAsync("1.000");

        // Downloads: a checkpoint and the metrics CSV, byte for byte what the API serves.
        var checkpoint = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("button[aria-label='download checkpoint 20']"));
        Assert.Equal(await cluster.Http.GetByteArrayAsync($"/api/jobs/{jobId}/checkpoints/20"), await ReadAsync(checkpoint));
        Assert.Equal($"{jobId}-checkpoint-20.tar", checkpoint.SuggestedFilename);
        var csv = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("text=Metrics CSV"));
        var csvBytes = await ReadAsync(csv);
        Assert.Equal(await cluster.Http.GetByteArrayAsync($"/api/jobs/{jobId}/metrics?format=csv"), csvBytes);
        var lines = System.Text.Encoding.UTF8.GetString(csvBytes).TrimEnd('\n').Split('\n');
        Assert.StartsWith("step,epoch,loss,lr", lines[0]);
        Assert.Equal(totalRows + 1, lines.Length);

        // The jobs table (deep link with a state filter), then each page straight from its URL.
        await page.GotoAsync("/");
        await Assertions.Expect(page.Locator($"tr[data-job-row='{jobId}']")).ToContainTextAsync("succeeded");
        await page.SelectOptionAsync("#state", "queued");
        await Assertions.Expect(page.Locator($"tr[data-job-row='{jobId}']")).ToHaveCountAsync(0);
        await page.SelectOptionAsync("#state", "succeeded");
        await Assertions.Expect(page.Locator($"tr[data-job-row='{jobId}']")).ToHaveCountAsync(1);
        await ShootAsync(page, "jobs.png");

        // A job action from the table: stop a long job while it runs; it checkpoints and ends stopped (resumable).
        var longJob = await cluster.SubmitAsync(ControlPlaneCluster.Job("dash-long", model, data, steps: 2000, checkpointEvery: 50));
        await cluster.WaitForStateAsync(longJob, "running", TimeSpan.FromMinutes(1));

        // While it runs, its page charts the node's readings as they arrive.
        await page.GotoAsync($"/jobs/{longJob}");
        await page.WaitForFunctionAsync("() => Number(document.querySelector('#host-cpu-chart')?.dataset.points ?? 0) >= 2");
        var telemetryEarly = int.Parse((await page.Locator("#host-cpu-chart").GetAttributeAsync("data-points"))!);
        await page.WaitForFunctionAsync($"() => Number(document.querySelector('#host-cpu-chart').dataset.points) > {telemetryEarly}", null, new() { Timeout = 60_000 });
        Assert.Equal("running", (await cluster.GetJsonAsync($"/api/jobs/{longJob}"))["state"]!.GetValue<string>());
        await ShootAsync(page, "job-running.png");

        await page.GotoAsync("/");
        await page.SelectOptionAsync("#state", "running");
        var stop = page.Locator($"tr[data-job-row='{longJob}'] button[data-action='stop']");
        await Assertions.Expect(stop).ToBeEnabledAsync();
        await stop.ClickAsync();
        await cluster.WaitForStateAsync(longJob, "stopped", TimeSpan.FromMinutes(1));
        await page.SelectOptionAsync("#state", "stopped");
        await Assertions.Expect(page.Locator($"tr[data-job-row='{longJob}'] button[data-action='resume']")).ToBeEnabledAsync();

        // A job that crashes: its page shows the error with the trainer's stack trace, and marks the error event.
        var crashJob = await cluster.SubmitAsync(ControlPlaneCluster.Job("dash-crash", model, data, steps: 10, checkpointEvery: 0, extra: new JsonObject { ["fake_crash_at"] = 3 }));
        await cluster.WaitForStateAsync(crashJob, "failed", TimeSpan.FromMinutes(1));
        await page.GotoAsync($"/jobs/{crashJob}");
        await Assertions.Expect(page.Locator("#error")).ToContainTextAsync("fake failure at step 3");
        await Assertions.Expect(page.Locator("#error")).ToContainTextAsync("fake-trainer.py");
        await Assertions.Expect(page.Locator("#events tr[data-event-type='error']")).ToHaveCountAsync(1);
        await ShootAsync(page, "job-failed.png");

        // Dark mode follows prefers-color-scheme.
        await page.EmulateMediaAsync(new() { ColorScheme = ColorScheme.Dark });
        await page.GotoAsync($"/jobs/{jobId}");
        await page.WaitForFunctionAsync($"() => Number(document.querySelector('#loss-chart')?.dataset.points) === {totalRows}");
        Assert.Equal("rgb(13, 17, 23)", await page.EvaluateAsync<string>("() => getComputedStyle(document.body).backgroundColor"));
        await ShootAsync(page, "job-dark.png");
        await page.EmulateMediaAsync(new() { ColorScheme = ColorScheme.Light });

        await page.GotoAsync("/nodes");
        await Assertions.Expect(page.Locator("#agents")).ToContainTextAsync("dash-agent");
        await Assertions.Expect(page.Locator("#agents")).ToContainTextAsync("$1.50");
        await page.WaitForFunctionAsync("() => Number(document.querySelector('#agents tr[data-agent] .spark-util')?.dataset.points ?? 0) >= 2 && Number(document.querySelector('#agents tr[data-agent] .spark-mem').dataset.points) >= 2");
        await ShootAsync(page, "nodes.png");

        await page.GotoAsync($"/compare?job={jobId}");
        await page.WaitForFunctionAsync($"() => Number(document.querySelector('#compare-chart')?.dataset.points) === {totalRows}");
        await page.GotoAsync($"/compare?job={jobId}&job={longJob}");
        await Assertions.Expect(page.Locator("#config-diff tr.differs")).ToContainTextAsync(["spec.max_steps"]);
        await Assertions.Expect(page.Locator("#config-diff tr:not(.differs)", new() { HasText = "spec.model.path" })).ToHaveCountAsync(1);
        await page.WaitForFunctionAsync("() => Number(document.querySelector('#compare-tps-chart')?.dataset.points ?? 0) > 0 && Number(document.querySelector('#compare-cost-chart')?.dataset.points ?? 0) > 0");
        await ShootAsync(page, "compare.png");

        // Costs: a row per job, agent, day and project; the day CSV downloads byte for byte as the API serves it.
        await page.GotoAsync("/costs");
        await Assertions.Expect(page.Locator("#total-spent")).ToContainTextAsync("$");
        await Assertions.Expect(page.Locator($"#costs-job tr[data-key='{jobId}']")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#costs-agent tbody")).ToContainTextAsync("dash-agent");
        await Assertions.Expect(page.Locator("#costs-day tbody tr[data-key]")).Not.ToHaveCountAsync(0);
        await page.WaitForFunctionAsync("() => Number(document.querySelector('#costs-day-chart')?.dataset.points ?? 0) >= 1");
        var costsCsv = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("button[aria-label='download costs by day as CSV']"));
        var costsBytes = await ReadAsync(costsCsv);
        Assert.Equal(await cluster.Http.GetByteArrayAsync("/api/costs?group_by=day&format=csv"), costsBytes);
        Assert.Equal("costs-by-day.csv", costsCsv.SuggestedFilename);
        var costLines = System.Text.Encoding.UTF8.GetString(costsBytes).TrimEnd('\n').Split('\n');
        Assert.Equal(CostsCsvHeader, costLines[0].TrimEnd('\r'));
        Assert.True(costLines.Length >= 2, $"the costs CSV has no rows:\n{string.Join('\n', costLines)}");
        await ShootAsync(page, "costs.png");

        // Every job in the table, last.
        await page.GotoAsync("/");
        await Assertions.Expect(page.Locator("tr[data-job-row]")).ToHaveCountAsync(3);
        // Sorting by keyboard: a column header is a button.
        await page.FocusAsync("button[data-sort='name']");
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.Locator("th[aria-sort='ascending'] button[data-sort='name']")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("tr[data-job-row]").First).ToContainTextAsync("dash-crash");
        await ShootAsync(page, "jobs-all.png");

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public async Task A_gpu_node_charts_its_gpus_with_the_memory_limit_and_marks_trainer_events()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: scripts/lib/ensure-deps.sh installs Debian's chromium");
        await using var cluster = new ControlPlaneCluster();
        await cluster.StartCoordinatorAsync();
        // A two-GPU node speaking the real agent protocol (python grpcio): NVML-shaped readings, a warning and an
        // event type the dashboard does not know.
        var gpuAgent = RunningProcess.Start(Path.Combine(FineTuneLab.TestSupport.RepoPaths.Root, "tests", "FineTuneLab.EndToEnd.Tests", "Dashboard", "fake-gpu-agent.py"),
            [$"127.0.0.1:{cluster.GrpcPort}", ControlPlaneCluster.JoinToken, "gpu-node"], null);
        try
        {
            await ControlPlaneCluster.WaitUntilAsync(async () => (await cluster.GetJsonAsync("/api/agents")).AsArray().Any(a => a!["name"]!.GetValue<string>() == "gpu-node" && a["state"]!.GetValue<string>() == "online"),
                TimeSpan.FromMinutes(2), () => $"the fake GPU agent did not come online:\n{gpuAgent.Output}\n{cluster.Logs()}");
            var (model, data) = await cluster.UploadSampleInputsAsync();
            var jobId = await cluster.SubmitAsync(ControlPlaneCluster.Job("gpu-job", model, data, steps: 1000, checkpointEvery: 0, resources: new JsonObject { ["device"] = "cuda" }));
            await cluster.WaitForStateAsync(jobId, "running", TimeSpan.FromMinutes(1));

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ChromiumArgs });
            var page = await (await browser.NewContextAsync(new() { BaseURL = cluster.Http.BaseAddress!.ToString(), ViewportSize = new() { Width = 1400, Height = 1000 } })).NewPageAsync();
            var problems = new List<string>();
            page.Console += (_, m) => { if (m.Type == "error") problems.Add("console: " + m.Text); };
            page.Response += (_, r) => { if (r.Status >= 400) problems.Add($"HTTP {r.Status}: {r.Url}"); };
            page.PageError += (_, e) => problems.Add("page error: " + e);
            Directory.CreateDirectory(Screenshots);

            // The job page: four GPU charts, a line per GPU, the device's 80 GiB drawn on the memory chart; they grow live.
            await page.GotoAsync($"/jobs/{jobId}");
            await Assertions.Expect(page.Locator("#telemetry")).ToHaveAttributeAsync("data-mode", "gpu");
            await Assertions.Expect(page.Locator("#no-gpu")).ToHaveCountAsync(0);
            foreach (var chart in new[] { "gpu-util", "gpu-mem", "gpu-temp", "gpu-power" })
            {
                await page.WaitForFunctionAsync($"() => Number(document.querySelector('#{chart}-chart')?.dataset.points ?? 0) >= 2");
                await Assertions.Expect(page.Locator($"#{chart}-chart .u-legend")).ToContainTextAsync("GPU 1");
            }
            Assert.Equal((80L << 30).ToString(System.Globalization.CultureInfo.InvariantCulture), await page.Locator("#gpu-mem-chart").GetAttributeAsync("data-limits"));
            var early = int.Parse((await page.Locator("#gpu-util-chart").GetAttributeAsync("data-points"))!);
            await page.WaitForFunctionAsync($"() => Number(document.querySelector('#gpu-util-chart').dataset.points) > {early}");

            // The trainer's warning is marked on the step and time charts. (An event type outside the contract no longer
            // reaches the coordinator: the agent refuses it at its edge, and the typed protocol cannot carry it.)
            var warning = page.Locator("#loss-chart .marker-warning");
            await Assertions.Expect(warning).ToHaveCountAsync(1, new() { Timeout = 30_000 });
            Assert.Equal("warning (loss_spike): loss rose 40% over 3 steps", await warning.GetAttributeAsync("data-tip"));
            await Assertions.Expect(page.Locator("#gpu-mem-chart .marker-warning")).ToHaveCountAsync(1);
            await ShootAsync(page, "job-gpu.png");

            // The nodes page: GPU utilization and memory sparklines, the current job by name.
            await page.GotoAsync("/nodes");
            var row = page.Locator("#agents tr[data-agent]", new() { HasText = "gpu-node" });
            await Assertions.Expect(row.Locator(".c-gpus")).ToHaveTextAsync("2 × NVIDIA A100-SXM4-80GB (80.0 GiB, sm 8.0)");
            await Assertions.Expect(row.Locator(".util-value")).ToContainTextAsync("GPU");
            await Assertions.Expect(row.Locator(".mem-value")).ToContainTextAsync("of 80.0 GiB");
            await Assertions.Expect(row.Locator(".c-job")).ToContainTextAsync("gpu-job");
            await page.WaitForFunctionAsync("() => Number(document.querySelector('#agents tr[data-agent] .spark-util')?.dataset.points) >= 2");
            await ShootAsync(page, "nodes-gpu.png");
            Assert.True(problems.Count == 0, string.Join("\n", problems));
        }
        finally
        {
            await gpuAgent.TerminateAsync();
        }
    }

    [Fact]
    public async Task With_an_api_key_the_dashboard_asks_once_and_keeps_it()
    {
        const string Key = "dash-secret-key";
        var dir = Directory.CreateTempSubdirectory("ftl-dash-key-").FullName;
        var (http, grpc) = (ControlPlaneCluster.FreePort(), ControlPlaneCluster.FreePort());
        var coordinator = RunningProcess.Start(Path.Combine(FineTuneLab.TestSupport.RepoPaths.Scripts, "ftl-coordinator"),
            ["--data-dir", dir, "--http-url", $"http://127.0.0.1:{http}", "--grpc-url", $"http://127.0.0.1:{grpc}",
             "--agent-token", ControlPlaneCluster.JoinToken, "--api-key", Key], null);
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{http}") };
            await ControlPlaneCluster.WaitUntilAsync(async () => (await client.GetAsync("/healthz")).IsSuccessStatusCode, TimeSpan.FromMinutes(4),
                () => $"ftl-coordinator not healthy:\n{coordinator.Output}");

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ChromiumArgs });
            var page = await (await browser.NewContextAsync(new() { BaseURL = client.BaseAddress.ToString() })).NewPageAsync();
            var prompts = 0;
            page.Dialog += async (_, dialog) => { prompts++; await dialog.AcceptAsync(Key); };
            await page.GotoAsync("/");
            await Assertions.Expect(page.Locator("#count")).ToHaveTextAsync("0 jobs");
            Assert.Equal(Key, await page.EvaluateAsync<string>("() => localStorage.getItem('ftl-api-key')"));
            await page.GotoAsync("/nodes");
            await Assertions.Expect(page.Locator("#agents")).ToContainTextAsync("No agents registered.");
            Assert.Equal(1, prompts);
        }
        finally
        {
            await coordinator.TerminateAsync();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// GET /api/jobs/{id}/telemetry on a CPU-only node: no GPUs, the host's memory, host series; max_points bounds every
    /// series and keeps its extremes; since_ms past the last point answers none; a bad parameter is a 400 naming it.
    /// </summary>
    private static async Task CheckTelemetryApiAsync(ControlPlaneCluster cluster, string jobId)
    {
        var full = await cluster.GetJsonAsync($"/api/jobs/{jobId}/telemetry");
        Assert.Empty(full["gpus"]!.AsArray());
        Assert.True(full["host"]!["memory_total_bytes"]!.GetValue<long>() > 0);
        JsonArray Points(JsonNode answer, string metric) =>
            answer["series"]!.AsArray().Single(s => s!["metric"]!.GetValue<string>() == metric && s["gpu"]!.GetValue<int>() == -1)!["points"]!.AsArray();
        var cpu = Points(full, "host.cpu.util");
        Assert.True(cpu.Count > 4, $"a 60-step run should leave more than 4 CPU readings, got {cpu.Count}");
        Assert.True(Points(full, "host.mem.available").Count > 0);
        var values = cpu.Select(p => p![1]!.GetValue<double>()).ToList();
        var times = cpu.Select(p => p![0]!.GetValue<long>()).ToList();
        Assert.Equal(times.Order().ToList(), times);

        var small = await cluster.GetJsonAsync($"/api/jobs/{jobId}/telemetry?max_points=4&metric=host.cpu.util");
        Assert.Single(small["series"]!.AsArray());
        var smallValues = Points(small, "host.cpu.util").Select(p => p![1]!.GetValue<double>()).ToList();
        Assert.InRange(smallValues.Count, 2, 4);
        Assert.Equal(values.Min(), smallValues.Min());
        Assert.Equal(values.Max(), smallValues.Max());

        var after = await cluster.GetJsonAsync($"/api/jobs/{jobId}/telemetry?since_ms={times[^1] + 1}&metric=host.cpu.util");
        Assert.Empty(after["series"]!.AsArray());
        var bad = await cluster.Http.GetAsync($"/api/jobs/{jobId}/telemetry?max_points=1");
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("max_points", await bad.Content.ReadAsStringAsync());

        var agentId = (await cluster.GetJsonAsync("/api/agents")).AsArray().Single(a => a!["name"]!.GetValue<string>() == "dash-agent")!["id"]!.GetValue<string>();
        var agent = await cluster.GetJsonAsync($"/api/agents/{agentId}/telemetry?metric=host.mem.available&max_points=50");
        Assert.All(agent["series"]!.AsArray(), s => Assert.Equal("host.mem.available", s!["metric"]!.GetValue<string>()));
        Assert.InRange(Points(agent, "host.mem.available").Count, 1, 50);
    }

    /// <summary>A full-page screenshot into <see cref="Screenshots"/>; a job page's terminal is scrolled into view first,
    /// since xterm draws only while it is on screen.</summary>
    private static async Task ShootAsync(IPage page, string name)
    {
        if (await page.Locator("#terminal").CountAsync() == 1)
        {
            await page.Locator("#terminal").ScrollIntoViewIfNeededAsync();
            await page.EvaluateAsync("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))");
        }
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, name), FullPage = true });
    }

    private static async Task<byte[]> ReadAsync(IDownload download)
    {
        var path = await download.PathAsync();
        return await File.ReadAllBytesAsync(path);
    }
}
