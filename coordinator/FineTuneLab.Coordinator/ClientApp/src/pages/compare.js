// Compare runs: two to four jobs overlaid on one step axis (train loss, eval loss, tokens/s, cost, from each job's
// metrics) and their configurations side by side, the settings that differ highlighted.
import { request } from "../api.js";
import { LiveChart } from "../charts.js";
import { esc, usd } from "../format.js";

const most = 4;
const charts = [
  ["compare-chart", "Train loss", "loss", null],
  ["compare-eval-chart", "Eval loss", "eval_loss", null],
  ["compare-tps-chart", "Tokens/s", "tokens_per_s", null],
  ["compare-cost-chart", "Cost", "cost_usd", (v) => usd(v)],
];

/** A job's settings as flat "path: value" pairs: its spec, resources and budget. */
function settings(job) {
  const flat = new Map();
  const walk = (prefix, v) => {
    if (v && typeof v === "object" && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, x);
    else flat.set(prefix, Array.isArray(v) ? JSON.stringify(v) : String(v));
  };
  walk("spec", job.spec);
  walk("resources", job.resources);
  walk("budget", { max_usd: job.budget?.max_usd ?? null, max_hours: job.budget?.max_hours ?? null });
  return flat;
}

export async function renderCompare(main) {
  const { jobs } = await request("/api/jobs?limit=200");
  const chosen = new Set(new URLSearchParams(location.search).getAll("job"));
  main.innerHTML = `<h1>Compare</h1>
    <fieldset><legend>Jobs (two to ${most})</legend>${jobs.map((j) => `<label><input type="checkbox" value="${esc(j.id)}" ${chosen.has(j.id) ? "checked" : ""}> ${esc(j.name)} <small class="muted">${esc(j.id)} · ${esc(j.state)}</small></label><br>`).join("") || "No jobs."}</fieldset>
    <p id="compare-note" class="muted" role="status"></p>
    <div class="grid">${charts.map(([id, title]) => `<section class="panel"><h2>${title}</h2><div id="${id}" role="img" aria-label="${title} by step, one line per job"></div></section>`).join("")}</div>
    <section class="panel" aria-labelledby="config-h"><h2 id="config-h">Configuration</h2><p class="muted">Rows marked ≠ differ between the jobs.</p>
      <div class="scroll"><table id="config-diff"></table></div></section>`;
  let drawn = [];
  const boxes = () => [...main.querySelectorAll("fieldset input")];

  async function draw() {
    const ids = boxes().filter((i) => i.checked).map((i) => i.value).slice(0, most);
    for (const box of boxes()) box.disabled = !box.checked && ids.length >= most;
    history.replaceState(null, "", `/compare?${new URLSearchParams(ids.map((i) => ["job", i]))}`);
    for (const c of drawn) c.destroy();
    drawn = [];
    main.querySelector("#compare-note").textContent = ids.length < 2 ? "Choose two or more jobs to compare (one shows on its own)." : "";
    const table = main.querySelector("#config-diff");
    if (!ids.length) {
      for (const [id] of charts) main.querySelector(`#${id}`).innerHTML = `<p class="muted">Choose jobs to compare.</p>`;
      table.innerHTML = "";
      return;
    }
    const [details, metrics] = await Promise.all([
      Promise.all(ids.map((i) => request(`/api/jobs/${encodeURIComponent(i)}`))),
      Promise.all(ids.map((i) => request(`/api/jobs/${encodeURIComponent(i)}/metrics?format=json`))),
    ]);
    const names = details.map((j) => j.name);
    for (const [id, , column, format] of charts) {
      const element = main.querySelector(`#${id}`);
      element.innerHTML = "";
      const chart = new LiveChart(element, { series: names.map((n) => ({ label: n })), format, height: 220 });
      metrics.forEach((m, s) => m.rows.forEach((r) => { if (r[column] != null) chart.set(r.step, ids.map((_, k) => (k === s ? r[column] : undefined))); }));
      chart.flush();
      drawn.push(chart);
    }

    const flat = details.map(settings);
    const keys = [...new Set(flat.flatMap((f) => [...f.keys()]))].sort();
    table.innerHTML = `<thead><tr><th scope="col">Setting</th>${names.map((n, k) => `<th scope="col">${esc(n)} <small class="muted">${esc(ids[k])}</small></th>`).join("")}</tr></thead>
      <tbody>${keys.map((key) => {
        const values = flat.map((f) => f.get(key) ?? "—");
        const differs = new Set(values).size > 1;
        return `<tr${differs ? ` class="differs" data-differs="true"` : ""}><th scope="row">${esc(key)}${differs ? ` <span class="differs-mark" title="differs">≠</span>` : ""}</th>${values.map((v) => `<td>${esc(v)}</td>`).join("")}</tr>`;
      }).join("")}</tbody>`;
  }
  main.querySelector("fieldset").addEventListener("change", draw);
  await draw();
  return () => { for (const c of drawn) c.destroy(); };
}
