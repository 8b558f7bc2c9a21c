// One job, live: loss/eval/lr and throughput charts fed by the SSE stream, node telemetry (GPU or host), cost over time,
// its events marked on every chart and listed, a terminal view of its logs, checkpoints, downloads (package, adapter,
// metrics CSV/JSON), and the error with its stack trace when it failed.
import { Terminal } from "/vendor/xterm.mjs";
import { download, request } from "../api.js";
import { LiveChart } from "../charts.js";
import { eventTimeMs, markerFor } from "../events.js";
import { budgetBar, bytes, esc, num, stateBadge, time, usd } from "../format.js";
import { openStream } from "../sse.js";
import { NodeTelemetry } from "../telemetry.js";
import { actionButtons, runAction } from "./jobs.js";

const JobStatesEnded = new Set(["succeeded", "failed", "stopped", "cancelled"]);
const levelColour = { error: "\x1b[31m", warning: "\x1b[33m", warn: "\x1b[33m", debug: "\x1b[90m" };

export async function renderJob(main, id) {
  const path = `/api/jobs/${encodeURIComponent(id)}`;
  let job = await request(path);
  main.innerHTML = `<h1 id="job-title">${esc(job.name)} <small class="muted">${esc(job.id)}</small></h1>
    <div class="toolbar" id="actions"></div>
    <div class="grid">
      <section class="panel" aria-labelledby="facts-h"><h2 id="facts-h">Job</h2><dl class="facts" id="facts"></dl></section>
      <section class="panel" aria-labelledby="dl-h"><h2 id="dl-h">Downloads</h2>
        <div class="toolbar">
          <button data-download="${path}/metrics?format=csv" data-name="${esc(id)}-metrics.csv">Metrics CSV</button>
          <button data-download="${path}/metrics?format=json" data-name="${esc(id)}-metrics.json">Metrics JSON</button>
          <button data-download="${path}/package" data-name="${esc(id)}-package.zip">Training package</button>
          <button data-download="${path}/adapter" data-name="${esc(id)}-adapter.tar" id="adapter-button">Adapter</button>
        </div>
        <h2>Checkpoints</h2><div class="scroll"><table><thead><tr><th scope="col">Step</th><th scope="col">Loss</th><th scope="col">Eval loss</th><th scope="col">Spent</th><th scope="col">Size</th><th scope="col">Created</th><th></th></tr></thead><tbody id="checkpoints"></tbody></table></div>
      </section>
    </div>
    <section class="panel" id="error-panel" hidden><h2>Error</h2><div class="error" id="error"></div></section>
    <div class="grid">
      <section class="panel"><h2>Loss</h2><div id="loss-chart" aria-label="train loss, eval loss and learning rate by step" role="img"></div></section>
      <section class="panel"><h2>Throughput</h2><div id="tps-chart" aria-label="tokens and samples per second by step" role="img"></div></section>
    </div>
    <section class="panel" aria-labelledby="logs-h"><h2 id="logs-h">Logs</h2>
      <div class="toolbar">
        <label>Level <select id="log-level"><option value="">all</option><option>debug</option><option>info</option><option>warning</option><option>error</option></select></label>
        <label>Search <input id="log-q" type="search"></label>
        <button id="log-follow" aria-pressed="true">Following</button>
        <span class="muted" id="log-count" aria-live="off"></span>
      </div>
      <div id="terminal" class="terminal"></div>
    </section>
    <section class="panel" aria-labelledby="node-h"><h2 id="node-h">Node</h2><div id="telemetry"></div></section>
    <div class="grid">
      <section class="panel" aria-labelledby="cost-h"><h2 id="cost-h">Cost over time</h2><p id="cost-summary" class="muted"></p><div id="cost-chart" role="img" aria-label="money spent over time"></div></section>
      <section class="panel" aria-labelledby="events-h"><h2 id="events-h">Events</h2>
        <div class="scroll events"><table><thead><tr><th scope="col">Time</th><th scope="col">Step</th><th scope="col">Event</th></tr></thead><tbody id="events"></tbody></table></div>
      </section>
    </div>
`;

  const loss = new LiveChart(main.querySelector("#loss-chart"), { series: [{ label: "train loss" }, { label: "eval loss" }, { label: "lr", scale: "lr" }], rightScale: "lr", focusableMarkers: true });
  const tps = new LiveChart(main.querySelector("#tps-chart"), { series: [{ label: "tokens/s" }, { label: "samples/s", scale: "samples/s" }], rightScale: "samples/s", rightFormat: (v) => num(v, 3) });
  const costChart = new LiveChart(main.querySelector("#cost-chart"), { xLabel: "time", time: true, series: [{ label: "spent" }], format: (v) => usd(v), height: 200 });
  const telemetry = new NodeTelemetry(main.querySelector("#telemetry"), path);
  let cost = job.cost;

  function drawJob() {
    main.querySelector("#actions").innerHTML = actionButtons(job);
    const p = job.progress;
    main.querySelector("#facts").innerHTML = [
      ["State", stateBadge(job.state) + (job.stop_reason ? ` (${esc(job.stop_reason)})` : "") + (job.waiting_reason ? ` — ${esc(job.waiting_reason)}` : "")],
      ["Model", esc(job.model)], ["Method", esc(job.method)], ["Agent", esc(job.agent_id ?? "—")],
      ["Progress", p ? `${p.step}/${p.total_steps ?? "?"} (epoch ${num(p.epoch)})` : "—"],
      ["Cost", `${usd(cost?.spent_usd)} spent, ${usd(cost?.projected_usd ?? job.cost?.projected_usd)} projected, ${usd(cost?.rate_usd_per_hour)}/h`],
      ["Budget", budgetBar(job.budget?.fraction)],
      ["Created", time(job.created_at)], ["Started", time(job.started_at)], ["Finished", time(job.finished_at)],
    ].map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("");
    main.querySelector("#adapter-button").disabled = !job.adapter_sha256;
    const panel = main.querySelector("#error-panel");
    panel.hidden = !job.error;
    if (job.error)
      main.querySelector("#error").textContent = [job.error.message, job.error.class && `class: ${job.error.class}`, job.error.advice && `advice: ${job.error.advice}`, job.error.stack_trace].filter(Boolean).join("\n\n");
  }

  async function loadCheckpoints() {
    const list = await request(`${path}/checkpoints`);
    main.querySelector("#checkpoints").innerHTML = list.map((c) => `<tr data-step="${c.step}"><td>${c.step}</td><td>${num(c.metrics?.loss, 4)}</td><td>${num(c.metrics?.eval_loss, 4)}</td>
      <td>${usd(c.metrics?.cost_usd)}</td><td>${bytes(c.bytes)}</td><td>${time(c.created_at)}</td>
      <td><button data-download="${path}/checkpoints/${c.step}" data-name="${esc(id)}-checkpoint-${c.step}.tar" aria-label="download checkpoint ${c.step}">Download</button></td></tr>`).join("")
      || `<tr><td colspan="7" class="muted">None yet.</td></tr>`;
  }

  async function refresh() {
    job = await request(path);
    drawJob();
  }

  main.addEventListener("click", async (e) => {
    const d = e.target.closest("[data-download]");
    if (d) {
      try { await download(d.dataset.download, d.dataset.name); } catch (err) { alert(`download: ${err.message}`); }
      return;
    }
    const a = e.target.closest("[data-action]");
    if (a) runAction(a, refresh);
  });

  drawJob();
  await loadCheckpoints();

  // Events worth a mark: on the step charts at their step, on the time charts at their time. An event without its own
  // time (a coordinator event) is looked up in /events; one without a step is placed at the step running at its time.
  const marked = [], stepTimes = [];
  function stepAt(ms) {
    let best = null;
    for (const [t, step] of stepTimes) if (t <= ms) best = step; else break;
    return best ?? stepTimes[0]?.[1] ?? null;
  }
  function drawMarkers() {
    const withStep = marked.map((m) => ({ ...m, step: m.step ?? (m.ms != null ? stepAt(m.ms) : null) }));
    const byStep = withStep.filter((m) => m.step != null).map((m) => ({ x: m.step, label: m.label, kind: m.kind }));
    const byTime = withStep.filter((m) => m.ms != null).map((m) => ({ x: m.ms / 1000, label: m.label, kind: m.kind }));
    loss.setMarkers(byStep);
    tps.setMarkers(byStep);
    costChart.setMarkers(byTime);
    telemetry.setMarkers(byTime);
    main.querySelector("#events").innerHTML = withStep.map((m) => `<tr data-event-type="${esc(m.type)}"><td>${m.ms != null ? new Date(m.ms).toLocaleString() : "—"}</td>
      <td>${m.step ?? "—"}</td><td><span class="dot marker-${esc(m.kind)}"></span> ${esc(m.label)}</td></tr>`).join("") || `<tr><td colspan="3" class="muted">None yet.</td></tr>`;
  }
  async function timeOf(id, type) {
    const { events } = await request(`${path}/events?after_seq=${Number(id) - 1}&type=${encodeURIComponent(type)}`);
    const e = events.find((x) => String(x.id) === String(id));
    return e ? Date.parse(e.at) : null;
  }
  function mark(type, data, id) {
    const m = markerFor(type, data);
    if (!m) return;
    const entry = { ...m, type, step: Number.isFinite(data?.step) ? data.step : null, ms: eventTimeMs(data) };
    marked.push(entry);
    if (entry.ms == null && id != null) timeOf(id, type).then((ms) => { entry.ms = ms; drawMarkers(); }).catch(() => {});
    drawMarkers();
  }

  let refreshing = null;
  const stopEvents = openStream(`${path}/stream`, (type, data, id) => {
    if (type === "step") {
      loss.set(data.step, [data.loss, undefined, data.lr]);
      tps.set(data.step, [data.tokens_per_s, data.samples_per_s]);
      const ms = eventTimeMs(data);
      if (ms != null && (!stepTimes.length || stepTimes.at(-1)[0] <= ms)) stepTimes.push([ms, data.step]);
    } else if (type === "eval") loss.set(data.step, [undefined, data.eval_loss, undefined]);
    else if (type === "cost") cost = { ...cost, ...data };
    else mark(type, data, id);
    if (type === "checkpoint") loadCheckpoints().catch(() => {});
    if (type === "state" || type === "done" || type === "stream-end" || !refreshing)
      refreshing ??= setTimeout(() => { refreshing = null; refresh().catch(() => {}); }, type === "state" ? 0 : 1000);
  });
  drawMarkers();
  const redraw = setInterval(() => { loss.flush(); tps.flush(); }, 250);

  // Node telemetry and cost are polled while the job can still change, then once more after it ended.
  let polledEnded = false, polling = false;
  const costSummary = main.querySelector("#cost-summary");
  async function poll() {
    if (polling) return;
    polling = true;
    const ended = JobStatesEnded.has(job.state);
    try {
      await Promise.all([
        telemetry.poll(job).catch((e) => { main.querySelector("#telemetry").dataset.error = e.message; }),
        request(`${path}/cost`).then((c) => {
          cost = { ...cost, ...c };
          costChart.clear();
          for (const [ms, spent] of c.points) costChart.set(ms / 1000, [spent]);
          // The budget is drawn once the run is projected to use half of it (below that it would flatten the curve).
          const budget = job.budget?.max_usd;
          costChart.setLimits(budget && (c.projected_usd ?? c.spent_usd) >= budget / 2 ? [{ value: budget, label: `budget ${usd(budget)}` }] : []);
          costChart.flush();
          costSummary.textContent = `${usd(c.spent_usd)} spent at ${usd(c.rate_usd_per_hour)}/h; projected ${usd(c.projected_usd)}.`;
        }).catch((e) => { costSummary.textContent = `Cost unavailable: ${e.message}`; }),
      ]);
    } finally {
      polling = false;
      polledEnded = ended;
    }
    drawMarkers();
  }
  await poll();
  const poller = setInterval(() => { if (!polledEnded || !JobStatesEnded.has(job.state)) poll(); }, 2000);

  // The terminal: log lines streamed from /logs?follow=true; a new filter restarts the stream on a cleared screen.
  const term = new Terminal({ convertEol: true, disableStdin: true, fontSize: 12, scrollback: 10000, rows: 18,
    theme: matchMedia("(prefers-color-scheme: dark)").matches ? {} : { background: "#ffffff", foreground: "#1b1f24", cursor: "#ffffff" } });
  const termElement = main.querySelector("#terminal");
  term.open(termElement);
  const level = main.querySelector("#log-level"), q = main.querySelector("#log-q"), followButton = main.querySelector("#log-follow");
  let following = true, held = [], shown = 0, stopLogs = null;

  function write(line) {
    term.writeln(line);
    shown++;
    termElement.dataset.lines = String(shown);
    main.querySelector("#log-count").textContent = `${shown} line${shown === 1 ? "" : "s"}`;
  }

  function startLogs() {
    stopLogs?.();
    term.reset();
    held = [];
    shown = 0;
    termElement.dataset.lines = "0";
    const query = new URLSearchParams({ follow: "true" });
    if (level.value) query.set("level", level.value);
    if (q.value.trim()) query.set("q", q.value.trim());
    stopLogs = openStream(`${path}/logs?${query}`, (type, l) => {
      if (type !== "log") return;
      const line = `\x1b[90m${new Date(l.at).toLocaleTimeString()}\x1b[0m ${levelColour[l.level] ?? ""}${l.level.padEnd(7)}\x1b[0m ${l.text}`;
      if (following) write(line); else held.push(line);
    });
  }

  followButton.addEventListener("click", () => {
    following = !following;
    followButton.setAttribute("aria-pressed", String(following));
    followButton.textContent = following ? "Following" : "Paused";
    if (following) { held.forEach(write); held = []; term.scrollToBottom(); }
  });
  level.addEventListener("change", startLogs);
  let debounce;
  q.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(startLogs, 300); });
  startLogs();

  return () => { stopEvents(); stopLogs?.(); clearInterval(redraw); clearInterval(poller); loss.destroy(); tps.destroy(); costChart.destroy(); telemetry.destroy(); term.dispose(); };
}
