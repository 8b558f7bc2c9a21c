// The nodes: registered agents, their GPUs, price and state, live utilization and memory sparklines (the last 10
// minutes of GET /api/agents/{id}/telemetry; host CPU and memory on a node without a GPU), current job, last heartbeat.
import { request } from "../api.js";
import { Sparkline } from "../charts.js";
import { ago, bytes, esc, percent, time, usd } from "../format.js";

const windowMs = 10 * 60 * 1000;

export async function renderNodes(main) {
  main.innerHTML = `<h1>Nodes</h1><div class="scroll"><table><thead><tr><th scope="col">Name</th><th scope="col">State</th><th scope="col">Provider</th><th scope="col">Price/h</th>
    <th scope="col">GPUs</th><th scope="col">CPU</th><th scope="col">Utilization (10 min)</th><th scope="col">Memory in use (10 min)</th>
    <th scope="col">Current job</th><th scope="col">Last heartbeat</th></tr></thead><tbody id="agents"></tbody></table></div>`;
  const body = main.querySelector("#agents");
  const rows = new Map(); // agent id → {row, util, mem}
  const jobNames = new Map();

  async function jobName(id) {
    if (!jobNames.has(id)) jobNames.set(id, await request(`/api/jobs/${encodeURIComponent(id)}`).then((j) => j.name).catch(() => id));
    return jobNames.get(id);
  }

  function rowFor(a) {
    let r = rows.get(a.id);
    if (r) return r;
    const row = document.createElement("tr");
    row.dataset.agent = a.id;
    row.innerHTML = `<td class="c-name"></td><td class="c-state"></td><td class="c-provider"></td><td class="c-price"></td><td class="c-gpus"></td><td class="c-cpu"></td>
      <td><span class="spark spark-util"></span> <span class="spark-value util-value"></span></td><td><span class="spark spark-mem"></span> <span class="spark-value mem-value"></span></td>
      <td class="c-job"></td><td class="c-heartbeat"></td>`;
    body.append(row);
    const gpu = a.gpus.length > 0;
    r = {
      row,
      util: new Sparkline(row.querySelector(".spark-util"), { label: gpu ? "GPU utilization" : "CPU utilization", max: 100, format: percent }),
      mem: new Sparkline(row.querySelector(".spark-mem"), { label: gpu ? "GPU memory" : "host memory", max: memoryTotal(a), format: bytes }),
    };
    rows.set(a.id, r);
    return r;
  }

  async function load() {
    const agents = await request("/api/agents");
    if (!agents.length) body.innerHTML = `<tr><td colspan="10" class="muted">No agents registered.</td></tr>`;
    else body.querySelector("td[colspan]")?.parentElement.remove();
    const since = Date.now() - windowMs;
    await Promise.all(agents.map(async (a) => {
      const { row, util, mem } = rowFor(a);
      const set = (cls, html) => { row.querySelector(cls).innerHTML = html; };
      set(".c-name", `${esc(a.name)}<br><small class="muted">${esc(a.id)}</small>`);
      set(".c-state", `<span class="state state-${a.state === "online" ? "running" : "failed"}">${esc(a.state)}</span>`);
      set(".c-provider", esc(a.provider || "—"));
      set(".c-price", usd(a.price_per_hour));
      set(".c-gpus", gpuSummary(a.gpus));
      set(".c-cpu", `${esc(a.cpu?.model ?? "")}${a.cpu?.logical_cores ? `, ${a.cpu.logical_cores} cores` : ""}${a.cpu?.memory_total_bytes ? `, ${bytes(a.cpu.memory_total_bytes)}` : ""}`);
      set(".c-job", a.current_job_id ? `<a href="/jobs/${encodeURIComponent(a.current_job_id)}">${esc(await jobName(a.current_job_id))}</a><br><small class="muted">${esc(a.current_job_id)}</small>` : "—");
      set(".c-heartbeat", `${ago(a.last_heartbeat_at)}<br><small class="muted">${time(a.last_heartbeat_at)}</small>`);

      const gpu = a.gpus.length > 0;
      const metrics = gpu ? "gpu.util,gpu.mem.used" : "host.cpu.util,host.mem.available";
      const t = await request(`/api/agents/${encodeURIComponent(a.id)}/telemetry?since_ms=${since}&max_points=120&metric=${metrics}`);
      // Several GPUs: the sparkline follows the busiest reading at each time (the table lists the GPUs themselves).
      const series = (metric) => {
        const byTime = new Map();
        for (const s of t.series.filter((x) => x.metric === metric))
          for (const [ms, v] of s.points) byTime.set(ms, Math.max(byTime.get(ms) ?? -Infinity, v));
        const sorted = [...byTime].sort((x, y) => x[0] - y[0]);
        return [sorted.map((p) => p[0] / 1000), sorted.map((p) => p[1])];
      };
      const [ux, uy] = series(gpu ? "gpu.util" : "host.cpu.util");
      let [mx, my] = series(gpu ? "gpu.mem.used" : "host.mem.available");
      const total = memoryTotal(a);
      if (!gpu && total) my = my.map((v) => total - v);
      util.setData(ux, uy);
      mem.setData(mx, my);
      set(".util-value", `${gpu ? "GPU" : "CPU"} ${percent(uy.at(-1))}`);
      set(".mem-value", `${bytes(my.at(-1))}${total ? ` of ${bytes(total)}` : ""}`);
    }));
  }

  await load();
  let loading = false;
  const timer = setInterval(() => {
    if (loading) return;
    loading = true;
    load().catch(() => {}).finally(() => { loading = false; });
  }, 5000);
  return () => { clearInterval(timer); for (const r of rows.values()) { r.util.destroy(); r.mem.destroy(); } };
}

/** The GPUs, identical ones counted once ("2 × NVIDIA A100 (80.0 GiB, sm 8.0)"), with their indices as a tooltip. */
function gpuSummary(gpus) {
  if (!gpus.length) return "none (CPU)";
  const kinds = new Map();
  for (const g of gpus) {
    const key = `${g.name} (${bytes(g.memory_total_bytes)}, sm ${g.compute_capability})`;
    kinds.set(key, [...(kinds.get(key) ?? []), g.index]);
  }
  return [...kinds].map(([kind, indices]) => `<span title="GPU ${indices.join(", ")}">${indices.length} × ${esc(kind)}</span>`).join("<br>");
}

/** What the memory sparkline is scaled to: the largest GPU's memory (it follows the fullest GPU), or the host's. */
function memoryTotal(a) {
  return a.gpus.length ? Math.max(...a.gpus.map((g) => g.memory_total_bytes)) : a.cpu?.memory_total_bytes ?? null;
}
