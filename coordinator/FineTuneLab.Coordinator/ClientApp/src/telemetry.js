// A job's node telemetry from GET /api/jobs/{id}/telemetry: GPU utilization, memory (the device's limit drawn as a
// line), temperature and power, one line per GPU; on a node without a GPU, host CPU utilization and memory instead.
// Polled incrementally (since the last point); a long-open page reloads the whole, server-downsampled, run now and then.
import { request } from "./api.js";
import { LiveChart } from "./charts.js";
import { bytes, celsius, esc, percent, watts } from "./format.js";

const maxPoints = 600;
const overlapMs = 10_000;
const gpuCharts = [
  { key: "gpu-util", title: "GPU utilization", metric: "gpu.util", format: percent, yRange: [0, 100] },
  { key: "gpu-mem", title: "GPU memory", metric: "gpu.mem.used", format: bytes },
  { key: "gpu-temp", title: "GPU temperature", metric: "gpu.temp", format: celsius },
  { key: "gpu-power", title: "GPU power", metric: "gpu.power", format: watts },
];

const charted = [...gpuCharts.map((c) => c.metric), "host.cpu.util", "host.mem.available", "trainer.rss"].join(",");

export class NodeTelemetry {
  /** container: an element this fills; path: the job's API path. */
  constructor(container, path) {
    this.container = container;
    this.path = path;
    this.mode = null;
    this.charts = [];
    this.markers = [];
    this.lastMs = -1;
    this.appended = 0;
    this.container.dataset.mode = "waiting";
    this.container.innerHTML = `<p class="muted" id="telemetry-waiting">No readings yet: the job has not run on a node.</p>`;
  }

  /** job: the job's current view (its state words the page while there are no readings). */
  async poll(job) {
    // A full load at first and now and then (incremental points pile up at full resolution, the server downsamples a
    // full load); otherwise from a little before the last point, since a slower sampler's readings may land late
    // (a repeated reading sets the same value again).
    const full = this.lastMs < 0 || this.appended > maxPoints;
    const since = full ? 0 : Math.max(0, this.lastMs - overlapMs);
    // Naming the metrics lets the store seek (job, metric, time) in its index instead of scanning the job's readings.
    const answer = await request(`${this.path}/telemetry?since_ms=${since}&max_points=${maxPoints}&metric=${charted}`);
    const gpuIndices = [...new Set([...answer.gpus.map((g) => g.index), ...answer.series.filter((s) => s.gpu >= 0 && s.metric.startsWith("gpu.")).map((s) => s.gpu)])].sort((a, b) => a - b);
    const mode = gpuIndices.length ? "gpu" : answer.host || answer.series.length ? "host" : null;
    if (!mode) {
      if (job?.started_at) this.container.querySelector("#telemetry-waiting").textContent = "No node readings were stored for this run.";
      return;
    }
    if (mode !== this.mode || (mode === "gpu" && gpuIndices.some((i) => !this.gpuIndices.includes(i)))) {
      this.build(mode, gpuIndices);
      if (!full) { this.lastMs = -1; return; } // the charts changed shape: the next poll loads everything into them
    }
    if (mode === "gpu") {
      const totals = answer.gpus.filter((g) => g.memory_total_bytes > 0);
      if (totals.length) this.chart("gpu-mem").setLimits([...new Set(totals.map((g) => g.memory_total_bytes))].map((v) => ({ value: v, label: `device limit ${bytes(v)}` })));
    } else if (answer.host?.memory_total_bytes) {
      this.hostTotal = answer.host.memory_total_bytes;
      this.chart("host-mem").setLimits([{ value: this.hostTotal, label: `host memory ${bytes(this.hostTotal)}` }]);
    }
    if (full) {
      for (const c of this.charts) c.chart.clear();
      this.appended = 0;
    } else this.appended += Math.max(0, ...answer.series.map((s) => s.points.length));
    for (const s of answer.series) {
      for (const [ms, value] of s.points) {
        this.place(s, ms / 1000, value);
        if (ms > this.lastMs) this.lastMs = ms;
      }
    }
    this.flush();
  }

  place(s, x, value) {
    if (this.mode === "gpu") {
      const spec = gpuCharts.find((c) => c.metric === s.metric);
      const column = this.gpuIndices.indexOf(s.gpu);
      if (!spec || column < 0) return;
      const values = this.gpuIndices.map(() => undefined);
      values[column] = value;
      this.chart(spec.key).set(x, values);
    } else if (s.metric === "host.cpu.util") this.chart("host-cpu").set(x, [value]);
    else if (s.metric === "host.mem.available") this.chart("host-mem").set(x, [this.hostTotal ? this.hostTotal - value : value, undefined]);
    else if (s.metric === "trainer.rss") this.chart("host-mem").set(x, [undefined, value]);
  }

  build(mode, gpuIndices) {
    this.destroy();
    this.mode = mode;
    this.gpuIndices = gpuIndices;
    this.container.dataset.mode = mode;
    const specs = mode === "gpu"
      ? gpuCharts.map((c) => ({ ...c, series: gpuIndices.map((i) => ({ label: `GPU ${i}` })) }))
      : [{ key: "host-cpu", title: "Host CPU utilization", format: percent, yRange: [0, 100], series: [{ label: "CPU" }] },
         { key: "host-mem", title: "Host memory in use", format: bytes, series: [{ label: "host" }, { label: "trainer RSS" }] }];
    this.container.innerHTML = (mode === "host"
      ? `<p class="notice" id="no-gpu" role="status">No GPU on this node: it trains on the CPU, so host CPU and memory are shown instead.</p>` : "") +
      `<div class="grid">${specs.map((c) => `<figure class="chart"><figcaption>${esc(c.title)}</figcaption><div id="${c.key}-chart" role="img" aria-label="${esc(c.title)} over time"></div></figure>`).join("")}</div>`;
    this.charts = specs.map((c) => ({ key: c.key, chart: new LiveChart(this.container.querySelector(`#${c.key}-chart`), { xLabel: "time", time: true, series: c.series, format: c.format, yRange: c.yRange, height: 200 }) }));
    for (const c of this.charts) c.chart.setMarkers(this.markers);
  }

  chart(key) { return this.charts.find((c) => c.key === key).chart; }

  /** markers: [{x (unix seconds), label, kind}] on every chart. */
  setMarkers(markers) {
    this.markers = markers;
    for (const c of this.charts) c.chart.setMarkers(markers);
  }

  flush() { for (const c of this.charts) c.chart.flush(); }

  destroy() {
    for (const c of this.charts) c.chart.destroy();
    this.charts = [];
  }
}
