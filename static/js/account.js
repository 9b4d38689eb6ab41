// One account: its latest values, a followers line and a stacked engagement bar chart over a range
// (30 d / 90 d / 1 y / all, or From/To: range.js, kept in the address), the range's figures, the
// days of the range flagged as anomalies, and its latest 30 snapshots. Days without a snapshot are
// gaps; flagged days are marked, their values as stored.
import {
  anomalyMark, changeNode, formatExact, formatPercent, getJSON, h, historyUrl, isoDate, numberNode, PALETTE,
  showError,
} from "./api.js";
import { chartError, chartLoading, drawChart, lineConfig, lineDataset, stackedBarConfig } from "./charts.js";
import { formatRate } from "./engagement.js";
import { formatDate, timeNode } from "./format.js";
import { RangeControl } from "./range.js";

const main = document.getElementById("main");
const platform = main.dataset.platform;
const handle = main.dataset.handle;

const title = document.getElementById("account-title");
const sub = document.getElementById("account-sub");
const tags = document.getElementById("account-tags");
const profileLink = document.getElementById("profile-link");
const cardsBox = document.getElementById("account-cards");
const rangeButtons = document.getElementById("range-buttons");
const rangeNote = document.getElementById("range-note");
const rangeFigures = document.getElementById("range-figures");
const followersBox = document.getElementById("followers-box");
const followersCanvas = document.getElementById("followers-chart");
const followersNote = document.getElementById("followers-note");
const engagementBox = document.getElementById("engagement-box");
const engagementCanvas = document.getElementById("engagement-chart");
const engagementNote = document.getElementById("engagement-note");
const rateBox = document.getElementById("rate-box");
const rateCanvas = document.getElementById("rate-chart");
const rateNote = document.getElementById("rate-note");
const snapshotsBox = document.getElementById("snapshots");
const anomaliesBox = document.getElementById("account-anomalies");

const ENGAGEMENT = [
  { key: "likes", label: "Likes", color: PALETTE[0] },
  { key: "comments", label: "Comments", color: PALETTE[3] },
  { key: "shares", label: "Shares", color: PALETTE[2] },
];

let account = null;
const ranges = new RangeControl({ buttons: rangeButtons, form: document.getElementById("range-form"), onChange: () => loadHistory() });
let historyRequest = null;
let tableShown = false;

// --- The account --------------------------------------------------------------------------------

// One exact look-up: the handle (any case) on its platform.
async function findAccount() {
  const page = await getJSON("/api/accounts", { platform, handle, per_page: 1 });
  return page.data[0] || null;
}

function card(label, value, subText) {
  return h("div", { class: "card" }, h("h3", { class: "card-label", text: label }), h("p", { class: "card-value" }, value),
    subText ? h("p", { class: "card-sub" }, subText) : null);
}

function renderAccount() {
  const latest = account.latest || {};
  document.title = `${account.account_display_name || `@${account.handle}`} · socialmetrics`;
  title.textContent = account.account_display_name || `@${account.handle}`;
  sub.replaceChildren(`@${account.handle}`, account.org_name ? ` · ${account.org_name}` : "",
    latest.date ? " · latest snapshot " : "", latest.date ? timeNode(latest.date) : "");
  tags.replaceChildren(
    account.is_core_account ? h("span", { class: "tag", text: "core account" }) : "",
    account.is_active === false ? h("span", { class: "tag tag-muted", text: "inactive: not collected" }) : "");
  if (account.url) {
    profileLink.href = account.url;
    profileLink.hidden = false;
  }
  if (!account.latest) {
    cardsBox.replaceChildren(h("p", { class: "alert alert-info", text: "No snapshot of this account yet: collect it or upload a CSV with its history." }));
  } else {
    cardsBox.replaceChildren(h("div", { class: "cards" },
      card("Followers", numberNode(latest.followers), latest.followers != null ? formatExact(latest.followers) : "not known"),
      card("Change, 7 days", changeNode(latest.followers_change_7d, null), formatPercent(latest.followers_change_pct_7d)),
      card("Change, 30 days", changeNode(latest.followers_change_30d, null), formatPercent(latest.followers_change_pct_30d)),
      card("Engagement rate", h("data", { id: "latest-engagement-rate", value: latest.engagement_rate ?? "", text: formatRate(latest.engagement_rate) }),
        "engagement / followers, latest day"),
      card("Following", numberNode(latest.following ?? null)),
      card("Posts", numberNode(latest.posts ?? null), "lifetime total")));
  }
  cardsBox.setAttribute("aria-busy", "false");
}

async function loadAccount() {
  cardsBox.setAttribute("aria-busy", "true");
  try {
    account = await findAccount();
  } catch (error) {
    showError(cardsBox, { what: "the account", error, retry: start });
    sub.textContent = "";
    return false;
  }
  if (!account) {
    const box = h("div", { class: "alert alert-error", role: "alert" },
      h("p", { text: `There is no ${platform} account @${handle} here.` }),
      h("p", {}, "Check the address, or add the account in the ", h("a", { href: "/admin/accounts/account/add/", text: "admin" }), "."));
    cardsBox.replaceChildren(box);
    cardsBox.setAttribute("aria-busy", "false");
    sub.textContent = "";
    for (const box2 of [followersBox, engagementBox, rateBox]) box2.closest(".chart-panel").hidden = true;
    snapshotsBox.closest(".panel").hidden = true;
    anomaliesBox.closest(".panel").hidden = true;
    rangeButtons.closest(".toolbar").hidden = true;
    rangeFigures.hidden = true;
    return false;
  }
  renderAccount();
  return true;
}

// --- History and charts -------------------------------------------------------------------------

function endDate() {
  return (account && account.latest && account.latest.date) || isoDate(new Date());
}

// The range's own figures, on one line under its controls: followers at its end, their change over
// it, its engagement and its days with a snapshot.
function renderRangeFigures(history) {
  const known = history.dates.map((date, i) => [date, history.followers[i]]).filter(([, v]) => v !== null);
  const [firstDay, first] = known[0] || [null, null];
  const [lastDay, last] = known[known.length - 1] || [null, null];
  const change = known.length > 1 ? last - first : null;
  const percent = change !== null && first > 0 ? (change * 100) / first : null;
  const engagement = (history.engagement || []).filter((v) => v !== null);
  const total = engagement.length ? engagement.reduce((a, b) => a + b, 0) : null;
  const days = history.dates.filter((_, i) => ["followers", "likes", "comments", "shares", "views"]
    .some((key) => history[key] && history[key][i] !== null)).length;
  const figure = (label, value) => h("div", { class: "range-figure" }, h("dt", { text: label }), h("dd", {}, value));
  rangeFigures.replaceChildren(h("dl", { class: "range-summary", id: "range-summary" },
    figure(lastDay ? `Followers on ${formatDate(lastDay)}` : "Followers",
      h("data", { id: "range-followers", value: last ?? "", text: formatExact(last) })),
    figure(firstDay && change !== null ? `Change since ${formatDate(firstDay)}` : "Change over the range",
      h("data", { id: "range-change", value: change ?? "" }, changeNode(change, percent))),
    figure("Engagement in the range", h("data", { id: "range-engagement", value: total ?? "", text: formatExact(total) })),
    figure("Days with a snapshot", h("data", { id: "range-days", value: days, text: `${formatExact(days)} of ${formatExact(history.dates.length)}` }))));
}

function summarize(history) {
  const days = history.dates.length;
  const missing = history.followers.filter((v) => v === null).length;
  const flagged = (history.anomaly || []).filter(Boolean).length;
  return { days, missing, flagged };
}

function drawFollowers(history) {
  const { days, missing, flagged } = summarize(history);
  followersCanvas.dataset.points = String(days);
  followersCanvas.dataset.gaps = String(missing);
  followersCanvas.dataset.anomalies = String(flagged);
  const first = history.dates[0];
  const last = history.dates[days - 1];
  followersCanvas.setAttribute("aria-label", days
    ? `Followers per day from ${formatDate(first)} to ${formatDate(last)}: ${formatExact(days)} days, ${missing} without a snapshot, ${flagged} flagged as anomalies.`
    : "Followers per day: no data in this range.");
  const notes = [];
  if (missing) notes.push(`${formatExact(missing)} without a snapshot, shown as gaps`);
  if (flagged) notes.push(`${formatExact(flagged)} flagged as ${flagged === 1 ? "an anomaly" : "anomalies"}, marked ▲`);
  followersNote.textContent = days ? `${formatExact(days)} days${notes.length ? `; ${notes.join("; ")}` : ""}.` : "No snapshot in this range.";
  const dataset = lineDataset({ label: "Followers", data: history.followers, color: PALETTE[0], anomalies: history.anomaly_reason });
  return drawChart(followersBox, followersCanvas, lineConfig({ labels: history.dates, datasets: [dataset] }));
}

// The days of the range flagged as anomalies, newest first, with what is implausible about them.
function listAnomalies(history, which) {
  const reasons = history.anomaly_reason || [];
  const rows = [];
  history.dates.forEach((date, i) => {
    if (reasons[i]) rows.push({ date, followers: history.followers[i], reason: reasons[i] });
  });
  rows.reverse();
  const where = which === "all" ? "in its history" : "in this range";
  if (!rows.length) {
    anomaliesBox.replaceChildren(h("p", { class: "muted", text: `No day ${where} is flagged as an anomaly.` }));
  } else {
    anomaliesBox.replaceChildren(
      h("p", { class: "meta", text: `Follower counts out of line with the account's usual daily change, ${where}. The values are shown as stored.` }),
      h("ul", { class: "anomaly-list", id: "account-anomaly-list" }, rows.map((row) => h("li", { class: "anomaly-item", dataset: { date: row.date } },
        anomalyMark(row.reason), " ",
        timeNode(row.date), " ",
        h("span", { class: "anomaly-value", text: `${formatExact(row.followers)} followers` }), " ",
        h("span", { class: "anomaly-reason", text: row.reason })))));
  }
  anomaliesBox.setAttribute("aria-busy", "false");
}

function drawEngagement(history) {
  const known = history.dates.filter((_, i) => ENGAGEMENT.some((e) => history[e.key][i] !== null)).length;
  engagementCanvas.dataset.points = String(history.dates.length);
  engagementCanvas.setAttribute("aria-label", `Likes, comments and shares per day: ${known} days with data.`);
  engagementNote.textContent = known ? "Likes, comments and shares on each day, stacked." : "No engagement numbers in this range.";
  return drawChart(engagementBox, engagementCanvas, stackedBarConfig({
    labels: history.dates,
    datasets: ENGAGEMENT.map((e) => ({ label: e.label, data: history[e.key], backgroundColor: e.color, stack: "engagement" })),
  }));
}

// Each day's engagement rate, and its mean over the range (both from the API: snapshots/engagement.py).
function drawRate(history) {
  const known = history.engagement_rate.filter((rate) => rate !== null).length;
  const average = history.engagement_rate_avg;
  rateCanvas.dataset.points = String(history.dates.length);
  rateCanvas.dataset.average = average === null ? "" : String(average);
  rateCanvas.setAttribute("aria-label", `Engagement rate per day: ${known} days with a rate, ${formatRate(average)} on average.`);
  rateNote.replaceChildren(...(known
    ? ["Likes, comments and shares divided by the day's followers; over the range ",
      h("data", { id: "range-engagement-rate", value: String(average), text: formatRate(average) }), " on average."]
    : ["No engagement rate in this range (it needs the day's engagement and followers)."]));
  const dataset = lineDataset({ label: "Engagement rate", data: history.engagement_rate, color: PALETTE[4] });
  const config = lineConfig({ labels: history.dates, datasets: [dataset], yFormat: formatRate });
  config.options.scales.y.min = 0; // a rate is never negative
  return drawChart(rateBox, rateCanvas, config);
}

async function loadHistory() {
  const which = ranges.key();
  if (historyRequest) historyRequest.abort();
  const controller = new AbortController();
  historyRequest = controller;
  chartLoading(followersBox);
  chartLoading(engagementBox);
  chartLoading(rateBox);
  const params = ranges.params(endDate());
  rangeNote.textContent = ranges.describe(params);
  let history;
  try {
    history = await getJSON(historyUrl(platform, handle), params, { signal: controller.signal });
  } catch (error) {
    if (error.name === "AbortError") return;
    ranges.refused(error);
    const retry = () => loadHistory();
    chartError(followersBox, { what: "the followers history", error, retry });
    chartError(engagementBox, { what: "the engagement history", error, retry });
    chartError(rateBox, { what: "the engagement rate", error, retry });
    showError(anomaliesBox, { what: "the anomalies", error, retry });
    if (!tableShown) showError(snapshotsBox, { what: "the snapshots", error, retry });
    return;
  } finally {
    if (historyRequest === controller) historyRequest = null;
  }
  listAnomalies(history, which);
  renderRangeFigures(history);
  // The table does not wait for the charts: one below the fold is drawn only when scrolled to.
  if (!tableShown) loadTable(history, which);
  try {
    await Promise.all([drawFollowers(history), drawEngagement(history), drawRate(history)]);
    main.dataset.chartRange = which;
  } catch (error) {
    const retry = () => loadHistory();
    chartError(followersBox, { what: "the chart", error, retry });
    chartError(engagementBox, { what: "the chart", error, retry });
    chartError(rateBox, { what: "the chart", error, retry });
  }
}

// --- The latest 30 snapshots ----------------------------------------------------------------------

const TABLE_COLUMNS = [
  ["followers", "Followers"], ["following", "Following"], ["posts", "Posts"], ["likes", "Likes"],
  ["comments", "Comments"], ["shares", "Shares"], ["views", "Views"],
];

function snapshotRows(history) {
  const rows = [];
  history.dates.forEach((date, i) => {
    const values = Object.fromEntries(TABLE_COLUMNS.map(([key]) => [key, history[key] ? history[key][i] : null]));
    const reason = history.anomaly_reason ? history.anomaly_reason[i] : null;
    if (TABLE_COLUMNS.some(([key]) => values[key] !== null)) rows.push({ date, reason, ...values });
  });
  return rows;
}

function snapshotCell(row, key) {
  if (key !== "followers" || !row.reason) return h("td", { class: "num", text: formatExact(row[key]) });
  return h("td", { class: "num anomaly-cell", title: `Anomaly: ${row.reason}` }, anomalyMark(row.reason), " ", formatExact(row[key]));
}

async function loadTable(history, which) {
  let rows = snapshotRows(history);
  try {
    if (rows.length < 30 && which !== "all") rows = snapshotRows(await getJSON(historyUrl(platform, handle)));
  } catch (error) {
    showError(snapshotsBox, { what: "the snapshots", error, retry: () => loadTable(history, "all") });
    return;
  }
  const latest = rows.slice(-30).reverse();
  tableShown = true;
  if (!latest.length) {
    snapshotsBox.replaceChildren(h("p", { class: "muted", text: "No snapshots yet." }));
  } else {
    const head = h("tr", {}, h("th", { scope: "col", text: "Date" }),
      ...TABLE_COLUMNS.map(([, label]) => h("th", { scope: "col", class: "num", text: label })));
    const body = latest.map((row) => h("tr", { class: row.reason ? "is-anomaly" : null },
      h("th", { scope: "row" }, timeNode(row.date)),
      ...TABLE_COLUMNS.map(([key]) => snapshotCell(row, key))));
    snapshotsBox.replaceChildren(h("table", { class: "table snapshots-table", id: "snapshots-table" },
      h("caption", { class: "visually-hidden", text: "The latest 30 snapshots, newest first" }),
      h("thead", {}, head), h("tbody", {}, body)));
  }
  snapshotsBox.setAttribute("aria-busy", "false");
}

async function start() {
  if (await loadAccount()) await loadHistory();
}

start();
