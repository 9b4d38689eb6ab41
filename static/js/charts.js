// Chart.js, loaded on demand, with the options every chart here shares. Missing days arrive from
// the API as null and stay null: a line shows a gap there (spanGaps off), a bar is simply absent.
// A line may carry the days flagged as anomalies: they are drawn as red triangles, the reason in
// the tooltip (the values stay as stored).
import { formatCompact, formatExact, loadChartJs, showError, spinner, whenVisible } from "./api.js";

/** Show a spinner over a chart box while its data or the library load. */
export function chartLoading(box) {
  box.querySelectorAll(".chart-overlay").forEach((node) => node.remove());
  const overlay = spinner("Loading the chart…");
  overlay.classList.add("chart-overlay");
  box.append(overlay);
  box.setAttribute("aria-busy", "true");
}

export function chartDone(box) {
  box.querySelectorAll(".chart-overlay").forEach((node) => node.remove());
  box.setAttribute("aria-busy", "false");
}

/** An error in place of the chart (the canvas is kept for the next attempt). */
export function chartError(box, { what, error, retry }) {
  chartDone(box);
  const holder = document.createElement("div");
  holder.className = "chart-overlay chart-overlay-error";
  box.append(holder);
  showError(holder, { what, error, retry });
}

export const ANOMALY_COLOR = "#b91c1c";

function anomalyOf(context) {
  const reasons = context.dataset.anomalies;
  return reasons ? reasons[context.dataIndex] || null : null;
}

/** A point is drawn where a day is flagged as an anomaly, and where a day stands alone between two
 * gaps (else it would be invisible). */
function pointRadius(context) {
  if (anomalyOf(context)) return 5;
  const data = context.dataset.data;
  const i = context.dataIndex;
  const alone = data[i] !== null && (i === 0 || data[i - 1] === null) && (i === data.length - 1 || data[i + 1] === null);
  return alone ? 2.5 : 0;
}

function pointStyle(context) {
  return anomalyOf(context) ? "triangle" : "circle";
}

function pointColor(context) {
  return anomalyOf(context) ? ANOMALY_COLOR : context.dataset.borderColor;
}

/** The reason of a flagged day, under its value in the tooltip (split so it never runs off the chart). */
function anomalyLines(context) {
  const reason = anomalyOf(context);
  if (!reason) return [];
  const [what, ...rest] = reason.split(", ");
  return [`⚠ Anomaly: ${what}`, ...rest.map((part) => `   ${part}`)];
}

const UNITS = [[1e9, "B"], [1e6, "M"], [1e3, "K"]];

/** Axis labels as short as the step between ticks allows: 17.80K, 17.81K... never two alike. */
function axisLabel(value, index, ticks) {
  const step = ticks.length > 1 ? Math.abs(ticks[1].value - ticks[0].value) : Math.abs(value) || 1;
  const largest = Math.max(...ticks.map((t) => Math.abs(t.value)));
  const [unit, suffix] = UNITS.find(([size]) => largest >= size) || [1, ""];
  const decimals = Math.max(0, Math.ceil(-Math.log10(step / unit) - 1e-9));
  if (unit === 1 || decimals > 3) return formatExact(value);
  return `${(value / unit).toFixed(decimals)}${suffix}`;
}

function baseOptions({ yFormat = formatCompact, legend = false } = {}) {
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    normalized: true,
    interaction: { mode: "index", intersect: false },
    scales: {
      x: { ticks: { maxTicksLimit: 8, maxRotation: 0, autoSkip: true, autoSkipPadding: 16 }, grid: { display: false } },
      y: { ticks: { callback: yFormat === formatCompact ? axisLabel : (value) => yFormat(value) }, grace: "5%" },
    },
    plugins: {
      legend: { display: legend, position: "bottom", labels: { boxWidth: 12, boxHeight: 12 } },
      tooltip: {
        callbacks: {
          label: (ctx) => `${ctx.dataset.label}: ${ctx.parsed.y === null ? "no data" : yFormat === formatCompact ? formatExact(ctx.parsed.y) : yFormat(ctx.parsed.y)}`,
          afterLabel: anomalyLines,
        },
      },
    },
  };
}

/** A line; `anomalies` (optional) is the reason of each day flagged as an anomaly, null elsewhere. */
export function lineDataset({ label, data, color, anomalies = null }) {
  return {
    label,
    data,
    anomalies,
    borderColor: color,
    backgroundColor: color,
    borderWidth: 2,
    spanGaps: false,
    tension: 0,
    pointRadius,
    pointStyle,
    pointBackgroundColor: pointColor,
    pointBorderColor: pointColor,
    pointHoverRadius: (context) => (anomalyOf(context) ? 7 : 4),
    pointHitRadius: 6,
  };
}

export function lineConfig({ labels, datasets, yFormat, legend }) {
  return { type: "line", data: { labels, datasets }, options: baseOptions({ yFormat, legend }) };
}

export function stackedBarConfig({ labels, datasets }) {
  const options = baseOptions({ legend: true });
  options.scales.x.stacked = true;
  options.scales.y.stacked = true;
  options.scales.y.beginAtZero = true;
  return { type: "bar", data: { labels, datasets }, options };
}

/** Draw (or redraw) a chart on `canvas` once its box is near the viewport and Chart.js is loaded. */
export async function drawChart(box, canvas, config) {
  await whenVisible(box);
  const Chart = await loadChartJs();
  // Fewer date labels on a narrow screen, so they never overlap.
  config.options.scales.x.ticks.maxTicksLimit = Math.max(3, Math.min(8, Math.floor(box.clientWidth / 110)));
  const existing = Chart.getChart(canvas);
  if (existing) existing.destroy();
  const chart = new Chart(canvas, config);
  chartDone(box);
  return chart;
}
