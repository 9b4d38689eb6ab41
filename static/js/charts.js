// Chart.js, loaded on demand, with the options every chart here shares. Missing days arrive from
// the API as null and stay null: a line shows a gap there (spanGaps off), a bar is simply absent.
// A line may carry the days flagged as anomalies: they are drawn as red triangles, the reason in
// the tooltip (the values stay as stored).
// Colours come from the stylesheet's custom properties (light or dark, as the reader's system
// prefers) and follow a change of scheme; numbers and dates are written in the reader's locale.
// Each chart's data is also a table (a "Data table" disclosure under the chart, the canvas points
// to it with aria-details) that is rebuilt whenever the chart is.
import { PALETTE, loadChartJs, showError, spinner, whenVisible } from "./api.js";
import { compactAffix, formatAxisDate, formatCompact, formatDate, formatExact, formatNumber, timeNode } from "./format.js";

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

// --- Colours from the stylesheet ----------------------------------------------------------------

const darkScheme = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

function cssVar(style, name, fallback) {
  return style.getPropertyValue(name).trim() || fallback;
}

/** The chart colours of the scheme in force (app.css: --chart-*, --series-1..6, --down). */
function readTheme() {
  const style = getComputedStyle(document.documentElement);
  return {
    text: cssVar(style, "--chart-text", "#5b6678"),
    grid: cssVar(style, "--chart-grid", "#dde2ea"),
    tooltipBackground: cssVar(style, "--tooltip-bg", "#18212f"),
    tooltipText: cssVar(style, "--tooltip-text", "#ffffff"),
    anomaly: cssVar(style, "--down", "#b91c1c"),
    series: PALETTE.map((color, i) => cssVar(style, `--series-${i + 1}`, color)),
  };
}

let theme = readTheme();

/** The colour of a flagged day's point in the scheme in force. */
export function anomalyColor() {
  return theme.anomaly;
}

// A dataset given one of the palette's colours keeps its place in the palette, so the scheme's own
// tone of that colour can replace it.
function rememberSeries(dataset) {
  if (dataset.seriesIndex === undefined) {
    const index = PALETTE.indexOf(dataset.borderColor || dataset.backgroundColor);
    dataset.seriesIndex = index >= 0 ? index : null;
  }
  return dataset;
}

/** Put the scheme's colours into a chart's configuration (before drawing, or before an update). */
function applyTheme(config) {
  const options = config.options;
  options.color = theme.text;
  options.borderColor = theme.grid;
  for (const scale of Object.values(options.scales || {})) {
    scale.ticks = { ...scale.ticks, color: theme.text };
    scale.grid = { ...scale.grid, color: theme.grid };
    scale.border = { ...scale.border, color: theme.grid };
  }
  const plugins = options.plugins || (options.plugins = {});
  plugins.legend = { ...plugins.legend, labels: { ...(plugins.legend || {}).labels, color: theme.text } };
  plugins.tooltip = {
    ...plugins.tooltip,
    backgroundColor: theme.tooltipBackground,
    titleColor: theme.tooltipText,
    bodyColor: theme.tooltipText,
    footerColor: theme.tooltipText,
  };
  for (const dataset of config.data.datasets) {
    rememberSeries(dataset);
    if (dataset.seriesIndex === null) continue;
    const color = theme.series[dataset.seriesIndex % theme.series.length];
    if (config.type === "line" || dataset.type === "line") dataset.borderColor = color;
    dataset.backgroundColor = color;
  }
}

// A change of the system's scheme while a page is open: every chart on it takes the new colours.
if (darkScheme) {
  darkScheme.addEventListener("change", () => {
    theme = readTheme();
    const Chart = window.Chart;
    if (!Chart) return;
    for (const chart of Object.values(Chart.instances)) {
      applyTheme(chart.config);
      chart.update("none");
    }
    document.documentElement.dataset.chartScheme = darkScheme.matches ? "dark" : "light";
  });
}

// --- Anomalies and points -----------------------------------------------------------------------

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
  return anomalyOf(context) ? theme.anomaly : context.dataset.borderColor;
}

/** The reason of a flagged day, under its value in the tooltip (split so it never runs off the chart). */
function anomalyLines(context) {
  const reason = anomalyOf(context);
  if (!reason) return [];
  const [what, ...rest] = reason.split(", ");
  return [`⚠ Anomaly: ${what}`, ...rest.map((part) => `   ${part}`)];
}

// --- Axes ---------------------------------------------------------------------------------------

const UNITS = [1e9, 1e6, 1e3];

/**
 * Axis labels as short as the step between ticks allows, in one unit for the whole axis and in the
 * reader's locale: 17.80K, 17.81K... (en), 17.800, 17.810... (de, which abbreviates from a
 * million: 1,25 Mio.); never two alike.
 */
function axisLabel(value, index, ticks) {
  const step = ticks.length > 1 ? Math.abs(ticks[1].value - ticks[0].value) : Math.abs(value) || 1;
  const largest = Math.max(...ticks.map((t) => Math.abs(t.value)));
  const unit = UNITS.find((size) => largest >= size);
  const affix = unit ? compactAffix(unit) : null;
  if (!affix) return formatExact(value);
  const decimals = Math.max(0, Math.ceil(-Math.log10(step / unit) - 1e-9));
  if (decimals > 3) return formatExact(value);
  return `${affix[0]}${formatNumber(value / unit, { digits: decimals })}${affix[1]}`;
}

/** The x axis: ISO days from the API, written as the reader's locale writes a day. */
function dayTick(value) {
  const labels = this.chart.data.labels;
  const label = this.getLabelForValue(value);
  const withYear = labels.length > 1 && String(labels[0]).slice(0, 4) !== String(labels[labels.length - 1]).slice(0, 4);
  return formatAxisDate(label, { withYear });
}

function baseOptions({ yFormat = formatCompact, legend = false } = {}) {
  const valueText = (value) => (value === null ? "no data" : yFormat === formatCompact ? formatExact(value) : yFormat(value));
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    normalized: true,
    interaction: { mode: "index", intersect: false },
    scales: {
      x: { ticks: { maxTicksLimit: 8, maxRotation: 0, autoSkip: true, autoSkipPadding: 16, callback: dayTick }, grid: { display: false } },
      y: { ticks: { callback: yFormat === formatCompact ? axisLabel : (value) => yFormat(value) }, grace: "5%" },
    },
    plugins: {
      legend: { display: legend, position: "bottom", labels: { boxWidth: 12, boxHeight: 12 } },
      tooltip: {
        callbacks: {
          title: (items) => (items.length ? formatDate(items[0].label, { style: "full" }) : ""),
          label: (ctx) => `${ctx.dataset.label}: ${valueText(ctx.parsed.y)}`,
          afterLabel: anomalyLines,
        },
      },
    },
  };
}

/** A line; `anomalies` (optional) is the reason of each day flagged as an anomaly, null elsewhere. */
export function lineDataset({ label, data, color, anomalies = null }) {
  return rememberSeries({
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
  });
}

// How a chart's values are written in its data table (the same way as in its tooltip): set per
// configuration by lineConfig, then per canvas when it is drawn.
const valueFormats = new WeakMap();

export function lineConfig({ labels, datasets, yFormat, legend }) {
  const config = { type: "line", data: { labels, datasets }, options: baseOptions({ yFormat, legend }) };
  if (yFormat) valueFormats.set(config, yFormat);
  return config;
}

export function stackedBarConfig({ labels, datasets }) {
  const options = baseOptions({ legend: true });
  options.scales.x.stacked = true;
  options.scales.y.stacked = true;
  options.scales.y.beginAtZero = true;
  return { type: "bar", data: { labels, datasets: datasets.map(rememberSeries) }, options };
}

// --- The chart's data as a table -----------------------------------------------------------------

/** The "Data table" disclosure of a chart, made under its box (after its note) the first time. */
function dataTableOf(canvas, create = true) {
  const id = `${canvas.id}-data`;
  let details = document.getElementById(id);
  if (details || !create) return details;
  const box = canvas.closest(".chart-box") || canvas.parentElement;
  const heading = box.parentElement.querySelector("h2, h3");
  const summary = document.createElement("summary");
  summary.append("Data table");
  if (heading) {
    const what = document.createElement("span");
    what.className = "visually-hidden";
    what.textContent = `: ${heading.textContent.trim()}`;
    summary.append(what);
  }
  details = document.createElement("details");
  details.className = "chart-data";
  details.id = id;
  details.append(summary, document.createElement("div"));
  details.lastChild.className = "table-wrap chart-data-body";
  const note = box.parentElement.querySelector(".chart-note");
  (note && note.parentElement === box.parentElement ? note : box).after(details);
  canvas.setAttribute("aria-details", id);
  return details;
}

function cell(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

/** Rebuild a chart's table from its labels and datasets: a row per day, a column per series. */
function fillDataTable(chart) {
  const canvas = chart.canvas;
  const details = dataTableOf(canvas);
  const { labels, datasets } = chart.data;
  const source = [labels, ...datasets.map((d) => d.data)];
  if (details.source && details.source.length === source.length && details.source.every((item, i) => item === source[i])) {
    details.hidden = false;
    return;
  }
  details.source = source;
  const format = valueFormats.get(canvas) || formatExact;
  const flagged = datasets.filter((d) => d.anomalies && d.anomalies.some(Boolean));
  const body = details.querySelector(".chart-data-body");
  if (!labels.length) {
    body.replaceChildren(cell("p", { class: "muted" }, "No data in this range."));
  } else {
    const head = cell("tr", {}, cell("th", { scope: "col" }, "Date"),
      ...datasets.map((d) => cell("th", { scope: "col", class: "num" }, d.label || "")),
      ...(flagged.length ? [cell("th", { scope: "col" }, "Anomaly")] : []));
    const rows = labels.map((label, i) => {
      const values = datasets.map((d) => {
        const value = d.data[i];
        const known = value !== null && value !== undefined;
        return cell("td", { class: "num", "data-value": known ? String(value) : "" }, known ? format(value) : "—");
      });
      const reasons = flagged.map((d) => d.anomalies[i]).filter(Boolean);
      const note = flagged.length ? [cell("td", {}, reasons.join("; "))] : [];
      return cell("tr", { "data-date": String(label) }, cell("th", { scope: "row" }, timeNode(String(label))), ...values, ...note);
    });
    const caption = cell("caption", { class: "visually-hidden" }, canvas.getAttribute("aria-label") || "The chart's data");
    body.replaceChildren(cell("table", { class: "table chart-data-table" }, caption,
      cell("thead", {}, head), cell("tbody", {}, ...rows)));
  }
  details.hidden = false;
}

const dataTablePlugin = {
  id: "socialmetricsDataTable",
  afterUpdate(chart) {
    fillDataTable(chart);
  },
  beforeDestroy(chart) {
    const details = dataTableOf(chart.canvas, false);
    if (details) {
      details.hidden = true;
      details.source = null;
    }
  },
};

/** Draw (or redraw) a chart on `canvas` once its box is near the viewport and Chart.js is loaded. */
export async function drawChart(box, canvas, config) {
  await whenVisible(box);
  const Chart = await loadChartJs();
  // Fewer date labels on a narrow screen, so they never overlap.
  config.options.scales.x.ticks.maxTicksLimit = Math.max(3, Math.min(8, Math.floor(box.clientWidth / 110)));
  theme = readTheme();
  applyTheme(config);
  valueFormats.set(canvas, valueFormats.get(config) || formatExact);
  config.plugins = [...(config.plugins || []).filter((p) => p !== dataTablePlugin), dataTablePlugin];
  const existing = Chart.getChart(canvas);
  if (existing) existing.destroy();
  const chart = new Chart(canvas, config);
  document.documentElement.dataset.chartScheme = darkScheme && darkScheme.matches ? "dark" : "light";
  chartDone(box);
  return chart;
}
