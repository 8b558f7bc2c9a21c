// uPlot charts that grow as points arrive: one x axis (step or time), several series, themed by the page's colours.
import uPlot from "/vendor/uPlot.esm.js";

const palette = ["#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df"];

export class LiveChart {
  /** series: [{label, scale?}], scales: extra y scales (e.g. "lr" on the right axis). */
  constructor(element, { title, xLabel = "step", series, time = false, rightScale = null }) {
    this.data = [[], ...series.map(() => [])];
    this.index = new Map();
    const fg = getComputedStyle(document.body).color;
    const axis = { stroke: fg, grid: { stroke: "rgba(128,128,128,.2)" } };
    const axes = [{ ...axis, label: xLabel }, { ...axis }];
    // The right axis carries small values (a learning rate): scientific notation keeps its ticks distinct.
    if (rightScale) axes.push({ ...axis, scale: rightScale, side: 1, grid: { show: false }, label: rightScale, size: 70, values: (u, ticks) => ticks.map((v) => (v == null ? "" : v.toExponential(1))) });
    this.plot = new uPlot({
      title, width: Math.max(320, element.clientWidth - 16), height: 240, scales: { x: { time } }, axes,
      series: [{ label: xLabel }, ...series.map((s, i) => ({ label: s.label, scale: s.scale ?? "y", stroke: palette[i % palette.length], width: 1.5, spanGaps: true, points: { show: false } }))],
    }, this.data, element);
    this.element = element;
    this.resize = () => this.plot.setSize({ width: Math.max(320, element.clientWidth - 16), height: 240 });
    addEventListener("resize", this.resize);
  }

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

  get points() { return this.data[0].length; }

  flush() {
    if (!this.dirty) return;
    this.dirty = false;
    this.plot.setData(this.data);
    this.element.dataset.points = String(this.points);
  }

  destroy() { removeEventListener("resize", this.resize); this.plot.destroy(); }
}
