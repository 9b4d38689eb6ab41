// Compare up to 6 accounts' followers on one chart, as counts or indexed to 100 at the start of
// the range, or their daily engagement rate (mode=rate), with each one's average rate over the
// range. The choice lives in the address (?a=platform:handle&mode=indexed&range=90, or From/To as
// ?from=2026-01-01&to=2026-03-31: range.js); each change is a step Back undoes.
import {
  accountUrl, changeNode, debounce, formatExact, getJSON, h, historyUrl, isoDate, PALETTE, platformBadge,
  platformLabel, request, showError,
} from "./api.js";
import { chartDone, chartError, chartLoading, drawChart, lineConfig, lineDataset } from "./charts.js";
import { formatRate } from "./engagement.js";
import { formatDate, formatNumber } from "./format.js";
import { RangeControl } from "./range.js";

const MAX = 6;

const searchInput = document.getElementById("compare-search");
const results = document.getElementById("compare-results");
const hint = document.getElementById("compare-hint");
const picked = document.getElementById("picked");
const pickedCount = document.getElementById("picked-count");
const modeButtons = document.getElementById("mode-buttons");
const rangeButtons = document.getElementById("compare-range");
const box = document.getElementById("compare-box");
const canvas = document.getElementById("compare-chart");
const placeholder = document.getElementById("compare-empty");
const note = document.getElementById("compare-note");
const chartTitle = document.getElementById("compare-title");
const rates = document.getElementById("compare-rates");
const changes = document.getElementById("compare-changes");
const rangeNote = document.getElementById("compare-range-note");

const state = { accounts: [], mode: "absolute" };
const ranges = new RangeControl({
  buttons: rangeButtons, form: document.getElementById("compare-range-form"), onChange: () => draw(), followBack: false,
});
let latestDay = null;
let searchRequest = null;
let drawToken = 0;

const keyOf = (a) => `${a.platform}:${a.handle}`;

function readAddress() {
  const params = new URLSearchParams(window.location.search);
  state.accounts = params.getAll("a").map((text) => {
    const at = text.indexOf(":");
    return at > 0 ? { platform: text.slice(0, at), handle: text.slice(at + 1) } : null;
  }).filter(Boolean).slice(0, MAX);
  state.mode = ["indexed", "rate"].includes(params.get("mode")) ? params.get("mode") : "absolute";
}

function writeAddress() {
  const params = new URLSearchParams();
  for (const account of state.accounts) params.append("a", keyOf(account));
  if (state.mode !== "absolute") params.set("mode", state.mode);
  ranges.writeInto(params);
  const query = params.toString();
  window.history.pushState(null, "", query ? `?${query}` : window.location.pathname);
}

function pressed(group, attribute, value) {
  for (const button of group.querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset[attribute] === value));
  }
}

// --- The chosen accounts ------------------------------------------------------------------------

function renderPicked() {
  pickedCount.textContent = `(${state.accounts.length} of ${MAX})`;
  picked.replaceChildren(...state.accounts.map((account, i) => h("li", { class: "chip", dataset: { key: keyOf(account) } },
    h("span", { class: "swatch", style: `background:var(--series-${i + 1}, ${PALETTE[i]})`, "aria-hidden": "true" }),
    platformBadge(account.platform),
    h("a", { href: accountUrl(account.platform, account.handle), text: `@${account.handle}` }),
    h("button", {
      type: "button", class: "chip-remove", "aria-label": `Remove ${platformLabel(account.platform)} @${account.handle}`,
      onclick: () => remove(account), text: "×",
    }))));
  searchInput.disabled = state.accounts.length >= MAX;
  if (state.accounts.length >= MAX) hint.textContent = `At most ${MAX} accounts; remove one to add another.`;
}

function add(account) {
  if (state.accounts.length >= MAX || state.accounts.some((a) => keyOf(a) === keyOf(account))) return;
  state.accounts.push({ platform: account.platform, handle: account.handle });
  changed();
  renderResults(lastResults);
  searchInput.focus();
}

function remove(account) {
  state.accounts = state.accounts.filter((a) => keyOf(a) !== keyOf(account));
  changed();
  renderResults(lastResults);
  if (state.accounts.length < MAX) hint.textContent = "Type to search the accounts.";
}

function changed() {
  writeAddress();
  renderPicked();
  draw();
}

// --- Search -------------------------------------------------------------------------------------

let lastResults = [];

function renderResults(accounts) {
  lastResults = accounts;
  const chosen = new Set(state.accounts.map(keyOf));
  results.replaceChildren(...accounts.map((account) => {
    const already = chosen.has(keyOf(account));
    return h("li", {},
      h("button", {
        type: "button", class: "result", disabled: already || state.accounts.length >= MAX,
        onclick: () => add(account), "aria-label": `Add ${platformLabel(account.platform)} @${account.handle}`,
      },
      platformBadge(account.platform),
      h("span", { class: "account-names" }, h("span", { class: "account-handle", text: `@${account.handle}` }),
        account.org_name ? h("span", { class: "account-org", text: account.org_name }) : null),
      h("span", { class: "result-action", text: already ? "added" : "add" })));
  }));
}

async function search() {
  const text = searchInput.value.trim();
  if (searchRequest) searchRequest.abort();
  if (!text) {
    renderResults([]);
    hint.textContent = "Type to search the accounts.";
    return;
  }
  const controller = new AbortController();
  searchRequest = controller;
  hint.textContent = "Searching…";
  try {
    const page = await getJSON("/api/accounts", { search: text, per_page: 8 }, { signal: controller.signal });
    renderResults(page.data);
    hint.textContent = page.pagination.total === 0
      ? "No account matches."
      : page.pagination.total > page.data.length
        ? `${formatExact(page.pagination.total)} matches; the first ${page.data.length} are shown.`
        : `${page.data.length} ${page.data.length === 1 ? "match" : "matches"}.`;
  } catch (error) {
    if (error.name === "AbortError") return;
    renderResults([]);
    showError(hint, { what: "the accounts", error, retry: search });
  }
}

// --- The chart ----------------------------------------------------------------------------------

async function latest() {
  if (latestDay) return latestDay;
  try {
    const page = await request("/api/grid?per_page=1&cursor=");
    latestDay = page.data.length ? page.data[0][3] : isoDate(new Date());
  } catch {
    latestDay = isoDate(new Date());
  }
  return latestDay;
}

function indexed(values) {
  const base = values.find((v) => v !== null && v !== undefined);
  if (!base) return values.map(() => null);
  return values.map((v) => (v === null || v === undefined ? null : Math.round((v * 10000) / base) / 100));
}

async function draw() {
  const token = ++drawToken;
  if (!state.accounts.length) {
    const Chart = window.Chart;
    if (Chart && Chart.getChart(canvas)) Chart.getChart(canvas).destroy();
    placeholder.hidden = false;
    chartDone(box);
    note.textContent = "";
    canvas.dataset.series = "0";
    rates.replaceChildren();
    changes.replaceChildren();
    rangeNote.textContent = "";
    return;
  }
  placeholder.hidden = true;
  chartLoading(box);
  const end = await latest();
  if (token !== drawToken) return;
  const params = ranges.params(end);
  rangeNote.textContent = ranges.describe(params);
  let histories;
  try {
    histories = await Promise.all(state.accounts.map((account) => getJSON(historyUrl(account.platform, account.handle), params)
      .catch((error) => ({ error, account }))));
  } catch (error) {
    if (token === drawToken) chartError(box, { what: "the histories", error, retry: draw });
    return;
  }
  if (token !== drawToken) return;
  const failures = histories.filter((h) => h.error);
  const dates = [...new Set(histories.flatMap((history) => history.dates || []))].sort();
  const datasets = histories.map((history, i) => {
    const account = state.accounts[i];
    const series = state.mode === "rate" ? history.engagement_rate : history.followers;
    const byDate = new Map((history.dates || []).map((d, j) => [d, series[j]]));
    let values = dates.map((d) => (byDate.has(d) ? byDate.get(d) : null));
    if (state.mode === "indexed") values = indexed(values);
    return lineDataset({ label: `${platformLabel(account.platform)} @${account.handle}`, data: values, color: PALETTE[i] });
  });
  const yFormat = state.mode === "indexed" ? (v) => formatNumber(v, { digits: 1, minDigits: 1 })
    : state.mode === "rate" ? formatRate : undefined;
  chartTitle.textContent = state.mode === "rate" ? "Engagement rate" : "Followers";
  renderRates(histories);
  renderChanges(histories);
  try {
    const config = lineConfig({ labels: dates, datasets, yFormat, legend: true });
    if (state.mode === "rate") config.options.scales.y.min = 0; // a rate is never negative
    await drawChart(box, canvas, config);
  } catch (error) {
    chartError(box, { what: "the chart", error, retry: draw });
    return;
  }
  if (token !== drawToken) return; // a newer draw started meanwhile: its range is the one to show
  canvas.dataset.series = String(datasets.length);
  canvas.dataset.points = String(dates.length);
  canvas.setAttribute("aria-label", `${state.mode === "rate" ? "Engagement rate" : "Followers"} of ${datasets.map((d) => d.label).join(", ")}${dates.length ? ` from ${formatDate(dates[0])} to ${formatDate(dates[dates.length - 1])}` : ""}${state.mode === "indexed" ? ", indexed to 100 at the start" : ""}.`);
  const parts = [];
  if (state.mode === "indexed") parts.push("Each line is 100 on its first day with a follower count in the range.");
  if (failures.length) {
    parts.push(`Could not load ${failures.map((f) => `@${f.account.handle} (${f.error.message})`).join(", ")}.`);
    ranges.refused(failures[0].error);
  }
  note.textContent = parts.join(" ");
  canvas.dataset.range = ranges.key();
}

// Each account's followers at the end of the range and their change over it (first to last known day).
function renderChanges(histories) {
  changes.replaceChildren(...histories.map((history, i) => {
    const account = state.accounts[i];
    const known = history.error ? [] : history.followers.filter((v) => v !== null);
    const first = known.length ? known[0] : null;
    const last = known.length ? known[known.length - 1] : null;
    const change = known.length > 1 ? last - first : null;
    const percent = change !== null && first > 0 ? (change * 100) / first : null;
    return h("li", { class: "compare-change", dataset: { key: keyOf(account), change: change ?? "", followers: last ?? "" } },
      h("span", { class: "swatch", style: `background:var(--series-${i + 1}, ${PALETTE[i]})`, "aria-hidden": "true" }),
      platformBadge(account.platform), h("span", { class: "account-handle", text: `@${account.handle}` }), " ",
      h("span", { class: "change-followers", text: `${formatExact(last)} followers` }), " ", changeNode(change, percent));
  }));
}

// Each account's engagement rate over the range: the mean of its daily rates (from the API).
function renderRates(histories) {
  rates.replaceChildren(...histories.map((history, i) => {
    const account = state.accounts[i];
    const average = history.error ? null : history.engagement_rate_avg;
    return h("li", { class: "compare-rate", dataset: { key: keyOf(account) } },
      h("span", { class: "swatch", style: `background:var(--series-${i + 1}, ${PALETTE[i]})`, "aria-hidden": "true" }),
      platformBadge(account.platform), h("span", { class: "account-handle", text: `@${account.handle}` }), " ",
      h("data", { class: "rate-value", value: average === null ? "" : String(average), text: formatRate(average) }));
  }));
}

// --- Wiring -------------------------------------------------------------------------------------

modeButtons.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-mode]");
  if (!button || button.dataset.mode === state.mode) return;
  state.mode = button.dataset.mode;
  pressed(modeButtons, "mode", state.mode);
  writeAddress();
  draw();
});
window.addEventListener("popstate", () => {
  ranges.sync();
  readAddress();
  pressed(modeButtons, "mode", state.mode);
  renderPicked();
  renderResults(lastResults);
  draw();
});
searchInput.addEventListener("input", debounce(search, 300));
searchInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    const first = results.querySelector("button:not([disabled])");
    if (first) first.click();
  }
});

readAddress();
pressed(modeButtons, "mode", state.mode);
renderPicked();
draw();
