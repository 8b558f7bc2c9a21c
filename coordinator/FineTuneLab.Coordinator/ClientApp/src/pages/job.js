// One job, live: loss/eval/lr and tokens/s charts fed by the SSE stream, a terminal view of its logs, checkpoints,
// downloads (package, adapter, metrics CSV/JSON), cost, and the error with its stack trace when it failed.
import { Terminal } from "/vendor/xterm.mjs";
import { download, request } from "../api.js";
import { LiveChart } from "../charts.js";
import { budgetBar, bytes, esc, num, stateBadge, time, usd } from "../format.js";
import { openStream } from "../sse.js";
import { actionButtons, runAction } from "./jobs.js";

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
        <h2>Checkpoints</h2><table><thead><tr><th>Step</th><th>Size</th><th>Created</th><th></th></tr></thead><tbody id="checkpoints"></tbody></table>
      </section>
    </div>
    <section class="panel" id="error-panel" hidden><h2>Error</h2><div class="error" id="error"></div></section>
    <div class="grid">
      <section class="panel"><h2>Loss</h2><div id="loss-chart" aria-label="train loss, eval loss and learning rate by step" role="img"></div></section>
      <section class="panel"><h2>Throughput</h2><div id="tps-chart" aria-label="tokens per second by step" role="img"></div></section>
    </div>
    <section class="panel" aria-labelledby="logs-h"><h2 id="logs-h">Logs</h2>
      <div class="toolbar">
        <label>Level <select id="log-level"><option value="">all</option><option>debug</option><option>info</option><option>warning</option><option>error</option></select></label>
        <label>Search <input id="log-q" type="search"></label>
        <button id="log-follow" aria-pressed="true">Following</button>
        <span class="muted" id="log-count" aria-live="off"></span>
      </div>
      <div id="terminal" class="terminal"></div>
    </section>`;

  const loss = new LiveChart(main.querySelector("#loss-chart"), { series: [{ label: "train loss" }, { label: "eval loss" }, { label: "lr", scale: "lr" }], rightScale: "lr" });
  const tps = new LiveChart(main.querySelector("#tps-chart"), { series: [{ label: "tokens/s" }] });
  let cost = job.cost;

  function drawJob() {
    main.querySelector("#actions").innerHTML = actionButtons(job);
    const p = job.progress;
    main.querySelector("#facts").innerHTML = [
      ["State", stateBadge(job.state) + (job.stop_reason ? ` (${esc(job.stop_reason)})` : "") + (job.waiting_reason ? ` — ${esc(job.waiting_reason)}` : "")],
      ["Model", esc(job.model)], ["Method", esc(job.method)], ["Agent", esc(job.agent_id ?? "—")],
      ["Progress", p ? `${p.step}/${p.total_steps ?? "?"} (epoch ${num(p.epoch)})` : "—"],
      ["Cost", `${usd(cost?.spent_usd)} spent, ${usd(job.cost?.projected_usd)} projected, ${usd(cost?.rate_usd_per_hour)}/h`],
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
    main.querySelector("#checkpoints").innerHTML = list.map((c) => `<tr><td>${c.step}</td><td>${bytes(c.bytes)}</td><td>${time(c.created_at)}</td>
      <td><button data-download="${path}/checkpoints/${c.step}" data-name="${esc(id)}-checkpoint-${c.step}.tar" aria-label="download checkpoint ${c.step}">Download</button></td></tr>`).join("")
      || `<tr><td colspan="4" class="muted">None yet.</td></tr>`;
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

  let refreshing = null;
  const stopEvents = openStream(`${path}/stream`, (type, data) => {
    if (type === "step") {
      loss.set(data.step, [data.loss, undefined, data.lr]);
      tps.set(data.step, [data.tokens_per_s]);
    } else if (type === "eval") loss.set(data.step, [undefined, data.eval_loss, undefined]);
    else if (type === "checkpoint") loadCheckpoints().catch(() => {});
    else if (type === "cost") cost = data;
    if (type === "state" || type === "done" || type === "stream-end" || !refreshing)
      refreshing ??= setTimeout(() => { refreshing = null; refresh().catch(() => {}); }, type === "state" ? 0 : 1000);
  });
  const redraw = setInterval(() => { loss.flush(); tps.flush(); }, 250);

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

  return () => { stopEvents(); stopLogs?.(); clearInterval(redraw); loss.destroy(); tps.destroy(); term.dispose(); };
}
