// Which of a job's events are marked on its charts, and how they read. Known types get their own wording and colour;
// any other type (a newer coordinator or trainer may add some) is marked generically with its type and message.
const unmarked = new Set(["step", "eval", "log", "state", "state_report", "cost", "done", "telemetry", "stream-end", "stream-error"]);

const short = (data) => {
  const text = JSON.stringify(data ?? {});
  return text.length > 80 ? text.slice(0, 79) + "…" : text;
};

const describe = {
  checkpoint: (d) => ["checkpoint", `checkpoint at step ${d.step}`],
  warning: (d) => ["warning", `warning${d.kind ? ` (${d.kind})` : ""}: ${d.message ?? ""}`],
  error: (d) => ["error", `error: ${d.message ?? d.exception_type ?? ""}`],
  assigned: (d) => ["assigned", `assigned to ${d.agent_name || d.agent_id || "an agent"}${d.gpu_name ? ` (${d.gpu_name})` : ""}${d.price_per_hour != null ? ` at $${d.price_per_hour}/h` : ""}${d.resume_checkpoint ? `, resuming from ${d.resume_checkpoint}` : ""}`],
  requeued: (d) => ["requeued", `requeued${d.restarts != null ? ` (restart ${d.restarts}${d.max_restarts != null ? `/${d.max_restarts}` : ""})` : ""}${d.reason ? `: ${d.reason}` : ""}`],
  budget_alert: (d) => ["budget", `budget alert${d.fraction != null ? ` (${Math.round(d.fraction * 100)}% used)` : ""}${d.message ? `: ${d.message}` : d.state ? `: ${d.state}` : ""}`],
  anomaly: (d) => ["anomaly", `anomaly${d.kind ? ` (${d.kind})` : ""}${d.message ? `: ${d.message}` : ""}`],
  start: (d) => (d.resumed_from_step > 0 ? ["resumed", `resumed from step ${d.resumed_from_step}`] : null),
};

/** {kind, label} for an event worth a marker, or null. */
export function markerFor(type, data) {
  if (unmarked.has(type)) return null;
  const d = data ?? {};
  const known = describe[type];
  if (known) {
    const r = known(d);
    return r && { kind: r[0], label: r[1] };
  }
  return { kind: type.replace(/[^a-z0-9_-]/gi, ""), label: `${type}: ${d.message ?? d.reason ?? d.kind ?? short(d)}` };
}

/** The event's own time (unix ms) when its data carries one (trainer events carry "time"). */
export function eventTimeMs(data) {
  const t = data?.time ?? data?.at;
  const ms = t ? Date.parse(t) : NaN;
  return Number.isFinite(ms) ? ms : null;
}
