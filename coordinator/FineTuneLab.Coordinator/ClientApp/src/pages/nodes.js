// The nodes: registered agents, their GPUs, price, state, current job and last heartbeat.
import { request } from "../api.js";
import { bytes, esc, time, usd } from "../format.js";

export async function renderNodes(main) {
  main.innerHTML = `<h1>Nodes</h1><table><thead><tr><th scope="col">Name</th><th scope="col">State</th><th scope="col">Provider</th><th scope="col">Price/h</th>
    <th scope="col">GPUs</th><th scope="col">CPU</th><th scope="col">Current job</th><th scope="col">Last heartbeat</th></tr></thead><tbody id="agents"></tbody></table>`;
  async function load() {
    const agents = await request("/api/agents");
    main.querySelector("#agents").innerHTML = agents.map((a) => `<tr><td>${esc(a.name)}<br><small class="muted">${esc(a.id)}</small></td>
      <td><span class="state state-${a.state === "online" ? "running" : "failed"}">${esc(a.state)}</span></td><td>${esc(a.provider ?? "—")}</td><td>${usd(a.price_per_hour)}</td>
      <td>${a.gpus.length ? a.gpus.map((g) => `${g.index}: ${esc(g.name)} (${bytes(g.memory_total_bytes)}, sm ${esc(g.compute_capability)})`).join("<br>") : "none (CPU)"}</td>
      <td>${esc(a.cpu?.model ?? "")}${a.cpu?.logical_cores ? `, ${a.cpu.logical_cores} cores` : ""}${a.cpu?.memory_total_bytes ? `, ${bytes(a.cpu.memory_total_bytes)}` : ""}</td>
      <td>${a.current_job_id ? `<a href="/jobs/${encodeURIComponent(a.current_job_id)}">${esc(a.current_job_id)}</a>` : "—"}</td><td>${time(a.last_heartbeat_at)}</td></tr>`).join("")
      || `<tr><td colspan="8" class="muted">No agents registered.</td></tr>`;
  }
  await load();
  const timer = setInterval(() => load().catch(() => {}), 5000);
  return () => clearInterval(timer);
}
