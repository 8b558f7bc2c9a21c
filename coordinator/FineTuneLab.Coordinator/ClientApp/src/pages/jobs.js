// The jobs table: every job with its progress, cost and budget; sort by any column, filter by state, search by name.
import { request } from "../api.js";
import { budgetBar, esc, num, stateBadge, time, usd } from "../format.js";

const states = ["queued", "assigned", "running", "paused", "stopping", "succeeded", "failed", "stopped", "cancelled"];
const columns = [
  ["name", "Name", (j) => j.name], ["state", "State", (j) => j.state], ["model", "Model", (j) => j.model], ["method", "Method", (j) => j.method],
  ["progress", "Progress", (j) => (j.progress?.total_steps ? j.progress.step / j.progress.total_steps : null)],
  ["loss", "Loss", (j) => j.progress?.loss], ["tps", "Tokens/s", (j) => j.progress?.tokens_per_s],
  ["spent", "Cost", (j) => j.cost?.spent_usd], ["projected", "Projected", (j) => j.cost?.projected_usd],
  ["budget", "Budget", (j) => j.budget?.fraction], ["agent", "Agent", (j) => j.agent_id], ["started", "Started", (j) => j.started_at ?? ""],
];
export const actions = { stop: ["running", "paused", "assigned", "queued"], pause: ["running"], resume: ["paused", "stopped", "failed"], cancel: ["queued", "assigned", "running", "paused", "stopping"] };

export function actionButtons(job) {
  return Object.entries(actions)
    .map(([verb, allowed]) => `<button data-action="${verb}" data-job="${esc(job.id)}" ${allowed.includes(job.state) ? "" : "disabled"} aria-label="${verb} ${esc(job.name)}">${verb}</button>`)
    .join(" ");
}

export async function runAction(button, after) {
  try {
    await request(`/api/jobs/${encodeURIComponent(button.dataset.job)}/${button.dataset.action}`, { method: "POST" });
  } catch (e) {
    alert(`${button.dataset.action}: ${e.message}`);
  }
  await after();
}

export async function renderJobs(main) {
  const params = new URLSearchParams(location.search);
  let sort = params.get("sort") ?? "started", descending = params.get("dir") !== "asc";
  main.innerHTML = `<h1>Jobs</h1>
    <div class="toolbar">
      <label>State <select id="state"><option value="">all</option>${states.map((s) => `<option>${s}</option>`).join("")}</select></label>
      <label>Search <input id="q" type="search" placeholder="name" value="${esc(params.get("q") ?? "")}"></label>
      <a href="/submit">Submit a job…</a>
      <span id="count" class="muted" aria-live="polite"></span>
    </div>
    <div class="scroll"><table><thead><tr>${columns.map(([k, label]) => `<th scope="col" aria-sort="none"><button data-sort="${k}">${label}</button></th>`).join("")}<th scope="col">Actions</th></tr></thead>
    <tbody id="rows"></tbody></table></div>`;
  const stateSelect = main.querySelector("#state"), search = main.querySelector("#q");
  stateSelect.value = params.get("state") ?? "";
  let jobs = [];

  async function load() {
    const query = new URLSearchParams({ limit: "200" });
    if (stateSelect.value) query.set("state", stateSelect.value);
    if (search.value.trim()) query.set("q", search.value.trim());
    const list = await request(`/api/jobs?${query}`);
    // The list answers summaries; the table's progress and cost columns come from each job's full view.
    jobs = await Promise.all(list.jobs.map((j) => request(`/api/jobs/${encodeURIComponent(j.id)}`).catch(() => j)));
    main.querySelector("#count").textContent = `${list.total} job${list.total === 1 ? "" : "s"}`;
    draw();
  }

  function draw() {
    const key = columns.find(([k]) => k === sort)[2];
    const sorted = [...jobs].sort((a, b) => {
      const x = key(a), y = key(b);
      const c = x == null ? 1 : y == null ? -1 : typeof x === "number" ? x - y : String(x).localeCompare(String(y));
      return descending ? -c : c;
    });
    for (const th of main.querySelectorAll("th[aria-sort]"))
      th.setAttribute("aria-sort", th.querySelector("button").dataset.sort === sort ? (descending ? "descending" : "ascending") : "none");
    main.querySelector("#rows").innerHTML = sorted.map((j) => `<tr data-job-row="${esc(j.id)}">
      <td><a href="/jobs/${encodeURIComponent(j.id)}">${esc(j.name)}</a></td><td>${stateBadge(j.state)}</td>
      <td>${esc((j.model ?? "").replace(/^artifact:(.{12}).*/, "artifact:$1…"))}</td><td>${esc(j.method ?? "")}</td>
      <td>${j.progress?.total_steps ? `<progress max="${j.progress.total_steps}" value="${j.progress.step}"></progress> ${j.progress.step}/${j.progress.total_steps}` : "—"}</td>
      <td>${num(j.progress?.loss, 4)}</td><td>${num(j.progress?.tokens_per_s, 4)}</td>
      <td>${usd(j.cost?.spent_usd)}</td><td>${usd(j.cost?.projected_usd)}</td><td>${budgetBar(j.budget?.fraction)}</td>
      <td>${esc(j.agent_id ?? "—")}</td><td>${time(j.started_at)}</td><td>${actionButtons(j)}</td></tr>`).join("") ||
      `<tr><td colspan="${columns.length + 1}" class="muted">No jobs.</td></tr>`;
  }

  main.querySelector("thead").addEventListener("click", (e) => {
    const b = e.target.closest("[data-sort]");
    if (!b) return;
    descending = sort === b.dataset.sort ? !descending : false;
    sort = b.dataset.sort;
    draw();
  });
  main.querySelector("#rows").addEventListener("click", (e) => {
    const b = e.target.closest("[data-action]");
    if (b) runAction(b, load);
  });
  stateSelect.addEventListener("change", load);
  let debounce;
  search.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(load, 250); });
  await load();
  const timer = setInterval(() => load().catch(() => {}), 3000);
  return () => clearInterval(timer);
}
