// Costs: spend per job, per agent and per day, summed in the browser from each job's cost (the API has no /api/costs yet).
import { request } from "../api.js";
import { esc, usd } from "../format.js";

export async function renderCosts(main) {
  const list = await request("/api/jobs?limit=1000");
  const jobs = await Promise.all(list.jobs.map((j) => request(`/api/jobs/${encodeURIComponent(j.id)}`)));
  const total = jobs.reduce((s, j) => s + (j.cost?.spent_usd ?? 0), 0);
  const group = (key) => {
    const sums = new Map();
    for (const j of jobs) { const k = key(j) ?? "—"; sums.set(k, (sums.get(k) ?? 0) + (j.cost?.spent_usd ?? 0)); }
    return [...sums].sort((a, b) => b[1] - a[1]);
  };
  const table = (title, rows) => `<section class="panel"><h2>${title}</h2><table><tbody>${rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${usd(v)}</td></tr>`).join("") || `<tr><td class="muted">Nothing spent.</td></tr>`}</tbody></table></section>`;
  main.innerHTML = `<h1>Costs</h1><p>Total spent: <strong id="total-spent">${usd(total)}</strong> over ${jobs.length} job${jobs.length === 1 ? "" : "s"}.</p>
    <div class="grid">${table("By job", group((j) => `${j.name} (${j.id})`))}${table("By agent", group((j) => j.agent_id))}
    ${table("By day (your time zone)", group((j) => j.started_at && new Date(j.started_at).toLocaleDateString()))}${table("By project", group((j) => j.project || "—"))}</div>`;
}
