// uPlot charts that grow as points arrive: one x axis (step or time), several series, themed by the page's colours;
// optional limit lines (a device's memory) and event markers (vertical lines with a tooltip, reachable by keyboard).
import uPlot from "/vendor/uPlot.esm.js";

const palette = ["#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df"];

/** Marker colours by kind (the class the page gives an event); anything else is drawn in the neutral colour. */
const markerKinds = new Set(["checkpoint", "warning", "error", "assigned", "requeued", "budget", "anomaly", "resumed"]);

export class LiveChart {
  /**
   * series: [{label, scale?}]; rightScale: a second y scale on the right axis (e.g. "lr"); time: x is unix seconds;
   * rightFormat: its tick labels (scientific notation by default: a learning rate's ticks stay distinct);
   * format: formats y values (axis ticks and legend); limits: [{value, label}] horizontal lines the y range includes;
   * yRange: a fixed [min, max] (percentages); bars: draw bars instead of lines; xFormat: the x axis' tick labels;
   * focusableMarkers: markers in the tab order (one chart per page, so that the same events are not tabbed through on each).
   */
  constructor(element, { title, xLabel = "step", series, time = false, rightScale = null, rightFormat = (v) => v.toExponential(1), format = null, xFormat = null, limits = [], yRange = null, height = 240, bars = false, focusableMarkers = false }) {
    this.data = [[], ...series.map(() => [])];
    this.index = new Map();
    this.limits = limits;
    this.markers = [];
    this.focusableMarkers = focusableMarkers;
    this.element = element;
    this.height = height;
    const fg = getComputedStyle(document.body).color;
    const axis = { stroke: fg, grid: { stroke: "rgba(128,128,128,.2)" } };
    const yAxis = { ...axis, size: format ? 70 : 60 };
    if (format) yAxis.values = (u, ticks) => ticks.map((v) => (v == null ? "" : format(v)));
    const xAxis = { ...axis, label: xLabel };
    if (xFormat) xAxis.values = (u, ticks) => ticks.map((v) => (v == null ? "" : xFormat(v)));
    const axes = [xAxis, yAxis];
    if (rightScale) axes.push({ ...axis, scale: rightScale, side: 1, grid: { show: false }, label: rightScale, size: 70, values: (u, ticks) => ticks.map((v) => (v == null ? "" : rightFormat(v))) });
    // A fixed range (percentages), or the data's; a limit (the device's memory) stays in view, the range reaching it from 0.
    const y = { auto: true, range: yRange ? () => [...yRange] : (u, min, max) => (this.limits.length
      ? [Math.min(0, min ?? 0), Math.max(max ?? 0, ...this.limits.map((l) => l.value)) * 1.05 || 1]
      : uPlot.rangeNum(min ?? 0, max ?? 1, 0.1, true)) };
    const barPaths = bars ? uPlot.paths.bars({ size: [0.6, 60] }) : null;
    this.plot = new uPlot({
      title, width: this.width(), height, axes,
      scales: { x: { time, range: (u, min, max) => xRange(u.data[0], min, max, time, bars) }, y },
      series: [{ label: xLabel }, ...series.map((s, i) => ({
        label: s.label, scale: s.scale ?? "y", stroke: palette[i % palette.length], width: 1.5, spanGaps: !bars, points: { show: false },
        ...(bars ? { paths: barPaths, fill: palette[i % palette.length] + "99" } : {}),
        ...(format && (s.scale ?? "y") === "y" ? { value: (u, v) => (v == null ? "—" : format(v)) } : {}),
      }))],
      hooks: { draw: [(u) => this.drawLimits(u)], setSize: [() => this.placeMarkers()], setScale: [() => this.placeMarkers()] },
    }, this.data, element);
    this.layer = document.createElement("div");
    this.layer.className = "markers";
    this.plot.over.append(this.layer);
    this.resize = () => this.plot.setSize({ width: this.width(), height: this.height });
    addEventListener("resize", this.resize);
  }

  width() { return Math.max(320, this.element.clientWidth - 16); }

  /** Sets the values of the given series at x (keeps x sorted; a repeated x overwrites, e.g. after a resume). */
  set(x, values) {
    let i = this.index.get(x);
    if (i === undefined) {
      const xs = this.data[0];
      i = xs.length;
      if (i > 0 && xs[i - 1] > x) {
        i = xs.findIndex((v) => v > x);
        for (const column of this.data) column.splice(i, 0, null);
        this.index = new Map(xs.map((v, k) => [v, k]));
        xs[i] = x;
      } else for (const column of this.data) column.push(null);
      this.data[0][i] = x;
      this.index.set(x, i);
    }
    values.forEach((v, s) => { if (v !== undefined) this.data[s + 1][i] = v; });
    this.dirty = true;
  }

  /** Empties the chart (before a fresh, re-downsampled load). */
  clear() {
    for (const column of this.data) column.length = 0;
    this.index.clear();
    this.dirty = true;
  }

  get points() { return this.data[0].length; }

  setLimits(limits) {
    this.limits = limits;
    this.element.dataset.limits = limits.map((l) => l.value).join(",");
    this.dirty = true;
  }

  /** markers: [{x, label, kind}]: one vertical line each, with its label as tooltip (hover or keyboard focus). */
  setMarkers(markers) {
    const known = new Set(this.markers.map((m) => `${m.x}|${m.label}`));
    if (markers.length === this.markers.length && markers.every((m) => known.has(`${m.x}|${m.label}`))) return;
    this.markers = markers;
    this.layer.replaceChildren(...markers.map((m) => {
      const line = document.createElement("div");
      line.className = `marker marker-${markerKinds.has(m.kind) ? m.kind : "other"}`;
      line.tabIndex = this.focusableMarkers ? 0 : -1;
      line.dataset.tip = m.label;
      line.dataset.kind = m.kind;
      line.setAttribute("role", "note");
      line.setAttribute("aria-label", m.label);
      line.title = m.label;
      return line;
    }));
    this.element.dataset.markers = String(markers.length);
    this.placeMarkers();
  }

  placeMarkers() {
    if (!this.layer) return;
    const { min, max } = this.plot.scales.x;
    this.markers.forEach((m, k) => {
      const line = this.layer.children[k];
      const visible = min != null && m.x >= min && m.x <= max;
      line.hidden = !visible;
      if (visible) line.style.left = `${this.plot.valToPos(m.x, "x")}px`;
    });
  }

  drawLimits(u) {
    if (!this.limits.length || !this.points) return;
    const { ctx, bbox } = u;
    ctx.save();
    ctx.strokeStyle = ctx.fillStyle = getComputedStyle(document.body).getPropertyValue("--bad").trim() || "#cf222e";
    ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
    ctx.lineWidth = devicePixelRatio;
    ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
    ctx.textAlign = "left"; // uPlot leaves it as its last axis set it
    ctx.textBaseline = "bottom";
    for (const l of this.limits) {
      const yPos = Math.round(u.valToPos(l.value, "y", true));
      ctx.beginPath();
      ctx.moveTo(bbox.left, yPos);
      ctx.lineTo(bbox.left + bbox.width, yPos);
      ctx.stroke();
      ctx.fillText(l.label, bbox.left + 4 * devicePixelRatio, yPos - 3 * devicePixelRatio);
    }
    ctx.restore();
  }

  flush() {
    if (!this.dirty) return;
    this.dirty = false;
    this.plot.setData(this.data);
    this.element.dataset.points = String(this.points);
  }

  destroy() { removeEventListener("resize", this.resize); this.plot.destroy(); }
}

/**
 * The x range: uPlot widens a lone point to 1000 days on a seconds time axis, so a lone point gets a minute (or one
 * step) each side; bars get half a slot beside the first and last. A zoomed range is left as the user chose it.
 */
function xRange(xs, min, max, time, bars) {
  if (min == null || !xs?.length) return [min, max];
  const first = xs[0], last = xs[xs.length - 1];
  if (bars && min <= first && max >= last) return [first - 0.5, last + 0.5];
  if (first === last) return [first - (time ? 60 : 1), last + (time ? 60 : 1)];
  return [min, max];
}

/** A small trend line without axes or legend (the nodes page). values: [[unix_seconds...], [value...]]. */
export class Sparkline {
  constructor(element, { label, max = null, format = (v) => String(v) }) {
    this.element = element;
    this.format = format;
    this.plot = new uPlot({
      width: 140, height: 34, legend: { show: false }, cursor: { show: false }, select: { show: false },
      axes: [{ show: false }, { show: false }],
      scales: { x: { time: true }, y: { range: (u, min, mx) => [0, max ?? (mx || 1)] } },
      series: [{}, { label, stroke: palette[0], fill: palette[0] + "33", width: 1.5, points: { show: false } }],
    }, [[], []], element);
  }

  setData(xs, ys) {
    this.plot.setData([xs, ys]);
    this.element.dataset.points = String(xs.length);
    const last = ys.at(-1);
    this.element.title = last == null ? "no readings" : `latest ${this.format(last)}`;
  }

  destroy() { this.plot.destroy(); }
}
