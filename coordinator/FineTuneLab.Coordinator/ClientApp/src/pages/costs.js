// Costs: spend by day (charted over time), by job, by agent and by project, from GET /api/costs?group_by=..., each
// table downloadable as the API's CSV.
import { download, request } from "../api.js";
import { LiveChart } from "../charts.js";
import { esc, num, usd } from "../format.js";

const groups = [
  ["day", "By day (UTC)"],
  ["job", "By job"],
  ["agent", "By agent"],
  ["project", "By project"],
];

export async function renderCosts(main) {
  main.innerHTML = `<h1>Costs</h1><p>Total spent: <strong id="total-spent">…</strong></p>
    <section class="panel" aria-labelledby="spend-h"><h2 id="spend-h">Spend per day</h2><div id="costs-day-chart" role="img" aria-label="money spent per day"></div></section>
    <div class="grid">${groups.map(([g, title]) => `<section class="panel" id="costs-${g}" aria-labelledby="costs-${g}-h">
      <div class="toolbar"><h2 id="costs-${g}-h">${title}</h2><button data-download="/api/costs?group_by=${g}&format=csv" data-name="costs-by-${g}.csv" aria-label="download costs by ${g} as CSV">CSV</button></div>
      <table><thead><tr><th scope="col">${g === "day" ? "Day" : g[0].toUpperCase() + g.slice(1)}</th><th scope="col">Spent</th><th scope="col">Hours</th><th scope="col">Jobs</th></tr></thead><tbody></tbody></table>
    </section>`).join("")}</div>`;

  const answers = Object.fromEntries(await Promise.all(groups.map(async ([g]) => [g, await request(`/api/costs?group_by=${g}&format=json`)])));
  main.querySelector("#total-spent").textContent = usd(answers.day.total_usd);
  for (const [g] of groups) {
    const rows = [...answers[g].rows].sort(g === "day" ? (a, b) => String(a.key).localeCompare(String(b.key)) : (a, b) => b.spent_usd - a.spent_usd);
    main.querySelector(`#costs-${g} tbody`).innerHTML = rows.map((r) => `<tr data-key="${esc(r.key)}">
      <td>${g === "job" ? `<a href="/jobs/${encodeURIComponent(r.key)}">${esc(r.label ?? r.key)}</a> <small class="muted">${esc(r.key)}</small>`
        : `${esc(r.label || r.key || "—")}${r.label && r.label !== r.key && r.key ? ` <small class="muted">${esc(r.key)}</small>` : ""}`}</td>
      <td>${usd(r.spent_usd)}</td><td>${num(r.hours, 3)}</td><td>${r.jobs ?? "—"}</td></tr>`).join("") || `<tr><td colspan="4" class="muted">Nothing spent.</td></tr>`;
  }

  // The days as bars, one per day in order (days are UTC, as the API groups them); ticks between days stay blank.
  const days = [...answers.day.rows].sort((a, b) => String(a.key).localeCompare(String(b.key)));
  const chart = new LiveChart(main.querySelector("#costs-day-chart"), { xLabel: "day (UTC)", bars: true, series: [{ label: "spent" }], format: (v) => usd(v), height: 220,
    xFormat: (v) => (Number.isInteger(v) && days[v] ? days[v].key : "") });
  days.forEach((r, i) => chart.set(i, [r.spent_usd]));
  chart.flush();

  main.addEventListener("click", async (e) => {
    const d = e.target.closest("[data-download]");
    if (!d) return;
    try { await download(d.dataset.download, d.dataset.name); } catch (err) { alert(`download: ${err.message}`); }
  });
  return () => chart.destroy();
}
