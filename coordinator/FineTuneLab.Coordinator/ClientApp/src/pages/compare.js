// Compare runs: the loss curves of the chosen jobs on one step axis, from each job's metrics.
import { request } from "../api.js";
import { LiveChart } from "../charts.js";
import { esc } from "../format.js";

export async function renderCompare(main) {
  const { jobs } = await request("/api/jobs?limit=200");
  const chosen = new Set(new URLSearchParams(location.search).getAll("job"));
  main.innerHTML = `<h1>Compare</h1>
    <fieldset><legend>Jobs (up to 5)</legend>${jobs.map((j) => `<label><input type="checkbox" value="${esc(j.id)}" ${chosen.has(j.id) ? "checked" : ""}> ${esc(j.name)} <small class="muted">${esc(j.id)}</small></label><br>`).join("") || "No jobs."}</fieldset>
    <section class="panel"><h2>Train loss</h2><div id="compare-chart"></div></section>`;
  let chart = null;
  async function draw() {
    const ids = [...main.querySelectorAll("input:checked")].map((i) => i.value).slice(0, 5);
    history.replaceState(null, "", `/compare?${new URLSearchParams(ids.map((i) => ["job", i]))}`);
    chart?.destroy();
    const element = main.querySelector("#compare-chart");
    element.innerHTML = "";
    if (!ids.length) { element.innerHTML = `<p class="muted">Choose jobs to compare.</p>`; chart = null; return; }
    const names = ids.map((i) => jobs.find((j) => j.id === i)?.name ?? i);
    chart = new LiveChart(element, { series: names.map((n) => ({ label: n })) });
    const metrics = await Promise.all(ids.map((i) => request(`/api/jobs/${encodeURIComponent(i)}/metrics?format=json`)));
    metrics.forEach((m, s) => m.rows.forEach((r) => chart.set(r.step, ids.map((_, k) => (k === s ? r.loss : undefined)))));
    chart.flush();
  }
  main.querySelector("fieldset").addEventListener("change", draw);
  await draw();
  return () => chart?.destroy();
}
