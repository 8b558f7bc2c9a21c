// Formatting shared by the pages: times in the viewer's own time zone, money, numbers, bytes, and safe HTML.
export const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
export const time = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
export const usd = (v) => (v == null ? "—" : `$${Number(v).toFixed(v < 1 ? 4 : 2)}`);
export const num = (v, digits = 3) => (v == null ? "—" : Number(v).toPrecision(digits));
export const bytes = (v) => {
  if (v == null) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0, n = Number(v);
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
};
export const stateBadge = (s) => `<span class="state state-${esc(s)}">${esc(s)}</span>`;
export const budgetBar = (fraction) =>
  fraction == null ? "—" : `<span class="bar${fraction >= 1 ? " over" : ""}" role="img" aria-label="budget ${Math.round(fraction * 100)}% used"><span style="width:${Math.min(100, fraction * 100)}%"></span></span> ${Math.round(fraction * 100)}%`;
export const percent = (v) => (v == null ? "—" : `${Number(v).toFixed(0)}%`);
export const watts = (v) => (v == null ? "—" : `${Number(v).toFixed(0)} W`);
export const celsius = (v) => (v == null ? "—" : `${Number(v).toFixed(0)} °C`);
/** "12 s ago": how long since an ISO time, for heartbeats. */
export const ago = (iso) => {
  if (!iso) return "never";
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  return s < 90 ? `${Math.round(s)} s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
};
