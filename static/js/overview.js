// The overview: totals cards, the recent anomalies, per-platform and per-organization breakdowns,
// and the paged, filterable list of accounts. Every panel loads on its own, so the page paints at
// once and a failing call shows its error (with Retry) in its own panel only.
import {
  accountUrl, anomalyMark, changeNode, changeStack, debounce, fillPlatformSelect, formatExact, formatPercent, getJSON, h,
  numberNode, platformBadge, platformLabel, request, showError, skeletonLines,
} from "./api.js";
import { formatDate, formatDateTime, timeNode } from "./format.js";

const PER_PAGE = 20;
const PERIODS = [1, 7, 30];
const ANOMALIES_SHOWN = 10;

const totalsBox = document.getElementById("totals");
const platformBox = document.getElementById("by-platform");
const organizationBox = document.getElementById("by-organization");
const anomaliesBox = document.getElementById("anomalies");
const anomaliesCount = document.getElementById("anomalies-count");
const scheduleLine = document.getElementById("schedule");
const accountsBox = document.getElementById("accounts");
const accountsCount = document.getElementById("accounts-count");
const pager = document.getElementById("accounts-pager");
const filters = document.getElementById("account-filters");
const searchInput = document.getElementById("account-search");
const platformSelect = document.getElementById("account-platform");
const organizationSelect = document.getElementById("account-organization");
const coreCheckbox = document.getElementById("account-core");
const asOf = document.getElementById("as-of");
const refreshedAgo = document.getElementById("refreshed-ago");
const refreshButton = document.getElementById("refresh");
const emptyState = document.getElementById("empty-state");
const layout = document.querySelector(".overview-layout");

const state = { search: "", platform: "", organization: "", is_core: false, page: 1, pages: 0 };
let refreshedAt = null;
let accountsRequest = null;

// --- Filters kept in the address, so "back" from an account returns to the same list -----------

function readAddress() {
  const params = new URLSearchParams(window.location.search);
  state.search = params.get("search") || "";
  state.platform = params.get("platform") || "";
  state.organization = params.get("organization") || "";
  state.is_core = params.get("is_core") === "true";
  state.page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  searchInput.value = state.search;
  platformSelect.value = state.platform;
  coreCheckbox.checked = state.is_core;
}

function writeAddress() {
  const params = new URLSearchParams();
  if (state.search) params.set("search", state.search);
  if (state.platform) params.set("platform", state.platform);
  if (state.organization) params.set("organization", state.organization);
  if (state.is_core) params.set("is_core", "true");
  if (state.page > 1) params.set("page", String(state.page));
  const query = params.toString();
  window.history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
}

// --- Totals -------------------------------------------------------------------------------------

function card({ metric, label, value, sub }) {
  return h("div", { class: "card", dataset: { metric } },
    h("h3", { class: "card-label", text: label }),
    h("p", { class: "card-value" }, value),
    sub ? h("p", { class: "card-sub" }, sub) : null);
}

function growthCard(total, period) {
  const absolute = total[`followers_change_${period}d`];
  const percent = total[`followers_change_pct_${period}d`];
  const direction = absolute > 0 ? "up" : absolute < 0 ? "down" : "flat";
  const value = changeNode(absolute, null);
  const sub = [];
  if (percent !== null && percent !== undefined) {
    sub.push(h("span", { class: `change change-${direction}`, dataset: { percent: String(percent) }, text: formatPercent(percent) }), " ");
  }
  sub.push(period === 1 ? "since the day before" : `over ${period} days`);
  const node = card({ metric: `growth-${period}d`, label: `Growth, ${period} ${period === 1 ? "day" : "days"}`, value, sub });
  node.dataset.value = absolute === null || absolute === undefined ? "" : String(absolute);
  return node;
}

function renderTotals(totals) {
  const total = totals.total;
  const accounts = card({ metric: "accounts", label: "Accounts tracked", value: numberNode(total.accounts), sub: "with data" });
  accounts.dataset.value = String(total.accounts);
  const followers = card({ metric: "followers", label: "Total followers", value: numberNode(total.followers), sub: formatExact(total.followers) });
  followers.dataset.value = String(total.followers);
  const engagement = card({ metric: "engagement", label: "Engagement", value: numberNode(total.engagement), sub: "likes, comments and shares on each account's latest day" });
  engagement.dataset.value = String(total.engagement);
  totalsBox.replaceChildren(h("div", { class: "cards cards-six" }, accounts, followers, engagement, ...PERIODS.map((p) => growthCard(total, p))));
  totalsBox.setAttribute("aria-busy", "false");
}

function breakdownTable({ caption, nameHeader, rows, nameCell, key }) {
  const sorted = [...rows].sort((a, b) => (b.followers || 0) - (a.followers || 0));
  const head = h("tr", {},
    h("th", { scope: "col", text: nameHeader }),
    h("th", { scope: "col", class: "num", text: "Accounts" }),
    h("th", { scope: "col", class: "num", text: "Followers" }),
    ...PERIODS.map((p) => h("th", { scope: "col", class: "num" }, `${p} d`, h("span", { class: "visually-hidden", text: " growth" }))));
  const body = sorted.map((row) => h("tr", { dataset: { key: row[key] ?? "" } },
    h("th", { scope: "row" }, nameCell(row)),
    h("td", { class: "num", text: formatExact(row.accounts) }),
    h("td", { class: "num" }, numberNode(row.followers)),
    ...PERIODS.map((p) => h("td", { class: "num" }, changeStack(row[`followers_change_${p}d`], row[`followers_change_pct_${p}d`])))));
  return h("table", { class: "table breakdown" },
    h("caption", { class: "visually-hidden", text: caption }),
    h("thead", {}, head), h("tbody", {}, body));
}

function filterButton(text, apply) {
  return h("button", { type: "button", class: "linklike", title: `Show only ${text} in the account list`, onclick: apply }, text);
}

function renderBreakdowns(totals) {
  if (!totals.platforms.length) {
    platformBox.replaceChildren(h("p", { class: "muted", text: "No snapshots yet." }));
    organizationBox.replaceChildren(h("p", { class: "muted", text: "No snapshots yet." }));
  } else {
    platformBox.replaceChildren(breakdownTable({
      caption: "Followers and growth per platform",
      nameHeader: "Platform",
      rows: totals.platforms,
      key: "platform",
      nameCell: (row) => h("span", { class: "with-badge" }, platformBadge(row.platform),
        filterButton(platformLabel(row.platform), () => setFilter({ platform: row.platform }))),
    }));
    organizationBox.replaceChildren(breakdownTable({
      caption: "Followers and growth per organization",
      nameHeader: "Organization",
      rows: totals.organizations,
      key: "organization",
      nameCell: (row) => row.organization
        ? filterButton(row.organization, () => setFilter({ organization: row.organization }))
        : h("span", { class: "muted", text: "No organization" }),
    }));
  }
  platformBox.setAttribute("aria-busy", "false");
  organizationBox.setAttribute("aria-busy", "false");
}

async function loadTotals() {
  totalsBox.setAttribute("aria-busy", "true");
  try {
    const totals = await getJSON("/api/summary/totals");
    renderTotals(totals);
    renderBreakdowns(totals);
    const names = totals.organizations.map((o) => o.organization).filter((n) => n);
    fillOrganizations(names);
  } catch (error) {
    const retry = () => loadTotals();
    showError(totalsBox, { what: "the totals", error, retry });
    showError(platformBox, { what: "the platform breakdown", error, retry });
    showError(organizationBox, { what: "the organization breakdown", error, retry });
  }
}

function fillOrganizations(names) {
  organizationSelect.querySelectorAll("option[data-org]").forEach((option) => option.remove());
  const known = new Set(names);
  if (state.organization && !known.has(state.organization)) names = [...names, state.organization];
  for (const name of names) organizationSelect.append(h("option", { value: name, text: name, dataset: { org: "1" } }));
  organizationSelect.value = state.organization;
}

// --- Anomalies: the days of the last 30 whose follower count is out of line ------------------------

function anomalyRow(anomaly) {
  return h("li", { class: "anomaly-item", dataset: { key: `${anomaly.platform}:${anomaly.handle.toLowerCase()}`, date: anomaly.date } },
    anomalyMark(anomaly.anomaly_reason), " ",
    platformBadge(anomaly.platform), " ",
    h("a", { href: accountUrl(anomaly.platform, anomaly.handle), text: `@${anomaly.handle}` }), " ",
    timeNode(anomaly.date),
    h("span", { class: "anomaly-reason", text: anomaly.anomaly_reason }));
}

async function loadAnomalies() {
  anomaliesBox.setAttribute("aria-busy", "true");
  try {
    const page = await getJSON("/api/anomalies", { per_page: ANOMALIES_SHOWN });
    const { total, since } = page.pagination;
    anomaliesCount.textContent = total
      ? `${formatExact(total)} ${total === 1 ? "day" : "days"} since ${formatDate(since)}${total > page.data.length ? `; the ${page.data.length} newest:` : ":"}`
      : "";
    anomaliesBox.replaceChildren(total
      ? h("ul", { class: "anomaly-list", id: "anomaly-list" }, page.data.map(anomalyRow))
      : h("p", { class: "muted", text: `No follower count since ${formatDate(since)} is out of line with its account's usual daily change.` }));
    anomaliesBox.setAttribute("aria-busy", "false");
  } catch (error) {
    anomaliesCount.textContent = "";
    showError(anomaliesBox, { what: "the anomalies", error, retry: () => loadAnomalies() });
  }
}

// The daily collection: its schedule, the next run (in the reader's time) and the last run that ended.
async function loadSchedule() {
  try {
    const schedule = await getJSON("/api/schedule");
    const parts = [`Daily collection: ${schedule.description}`];
    if (schedule.next_run_at) {
      const next = new Date(schedule.next_run_at);
      parts.push(`next ${formatDateTime(next)}`);
    }
    const last = schedule.last_run;
    parts.push(last
      ? `last run ${last.status} on ${formatDate(last.date)} (${formatExact(last.succeeded)} collected, ${formatExact(last.failed)} failed)`
      : "no run yet");
    scheduleLine.textContent = `${parts.join(" · ")}.`;
  } catch (error) {
    scheduleLine.textContent = "The collection schedule could not be read.";
  }
}

// The newest day with a snapshot: the grid's first row in its default order (cursor pages cost no count).
async function loadAsOf() {
  try {
    const page = await request("/api/grid?per_page=1&cursor=");
    const row = page.data[0];
    asOf.replaceChildren(row
      ? h("span", {}, "Data as of ", timeNode(row[3], { id: "as-of-date" }))
      : h("span", { text: "No snapshots yet" }));
  } catch (error) {
    asOf.replaceChildren(h("span", { class: "error-text", text: `Could not read the latest date: ${error.message}` }));
  }
}

// --- Accounts -----------------------------------------------------------------------------------

function accountRow(account) {
  const latest = account.latest || {};
  const name = account.account_display_name && account.account_display_name !== account.handle
    ? account.account_display_name : "";
  const details = [account.org_name, name].filter(Boolean).join(" · ");
  return h("li", { class: "account-row", dataset: { key: account.account_key || `${account.platform}:${account.handle}` } },
    h("a", { class: "account-link", href: accountUrl(account.platform, account.handle) },
      platformBadge(account.platform),
      h("span", { class: "account-names" },
        h("span", { class: "account-handle" }, h("span", { class: "handle-text", text: `@${account.handle}` }),
          account.is_core_account ? h("span", { class: "tag", title: "Core account", text: "core" }) : null,
          account.is_active === false ? h("span", { class: "tag tag-muted", text: "inactive" }) : null),
        details ? h("span", { class: "account-org", text: details }) : null),
      h("span", { class: "account-numbers" },
        numberNode(latest.followers ?? null, { className: "account-followers" }),
        changeNode(latest.followers_change_7d ?? null, latest.followers_change_pct_7d ?? null))));
}

function renderPager(pagination) {
  state.pages = pagination.pages;
  pager.hidden = pagination.pages <= 1;
  pager.querySelector(".pager-status").textContent = `Page ${pagination.page} of ${Math.max(1, pagination.pages)}`;
  pager.querySelector('[data-page="prev"]').disabled = pagination.page <= 1;
  pager.querySelector('[data-page="next"]').disabled = pagination.page >= pagination.pages;
}

function filtered() {
  return Boolean(state.search || state.platform || state.organization || state.is_core);
}

async function loadAccounts() {
  if (accountsRequest) accountsRequest.abort();
  const controller = new AbortController();
  accountsRequest = controller;
  accountsBox.setAttribute("aria-busy", "true");
  accountsBox.classList.add("is-loading");
  if (!accountsBox.querySelector(".account-list li")) {
    accountsBox.replaceChildren(h("ul", { class: "account-list" }, skeletonLines(8).map((line) => h("li", { class: "account-row skeleton-row" }, line))));
  }
  try {
    const page = await getJSON("/api/accounts", {
      page: state.page,
      per_page: PER_PAGE,
      search: state.search.trim(),
      platform: state.platform,
      organization: state.organization,
      is_core: state.is_core ? "true" : "",
    }, { signal: controller.signal });
    if (page.data.length === 0 && state.page > 1 && page.pagination.pages > 0) {
      state.page = page.pagination.pages;
      writeAddress();
      return loadAccounts();
    }
    const total = page.pagination.total;
    accountsCount.textContent = `${formatExact(total)} ${total === 1 ? "account" : "accounts"}${filtered() ? " match" : ""}`;
    if (total === 0) {
      accountsBox.replaceChildren(filtered()
        ? h("div", { class: "empty" },
          h("p", { text: "No account matches these filters." }),
          h("button", { type: "button", class: "btn btn-small", onclick: clearFilters, text: "Clear filters" }))
        : h("p", { class: "empty muted", text: "No accounts yet." }));
    } else {
      accountsBox.replaceChildren(h("ul", { class: "account-list" }, page.data.map(accountRow)));
    }
    renderPager(page.pagination);
    const empty = total === 0 && !filtered();
    emptyState.hidden = !empty;
    layout.classList.toggle("is-empty", empty);
  } catch (error) {
    if (error.name === "AbortError") return;
    accountsCount.textContent = "";
    pager.hidden = true;
    showError(accountsBox, { what: "the accounts", error, retry: () => loadAccounts() });
  } finally {
    if (accountsRequest === controller) {
      accountsRequest = null;
      accountsBox.setAttribute("aria-busy", "false");
      accountsBox.classList.remove("is-loading");
    }
  }
}

function setFilter(changes) {
  Object.assign(state, changes, { page: 1 });
  searchInput.value = state.search;
  platformSelect.value = state.platform;
  organizationSelect.value = state.organization;
  coreCheckbox.checked = state.is_core;
  writeAddress();
  loadAccounts();
  document.getElementById("accounts-title").scrollIntoView({ behavior: "smooth", block: "nearest" });
}

function clearFilters() {
  setFilter({ search: "", platform: "", organization: "", is_core: false });
}

// --- Refreshing ---------------------------------------------------------------------------------

function showRefreshedAgo() {
  if (refreshedAt === null) return;
  const seconds = Math.round((Date.now() - refreshedAt) / 1000);
  refreshedAgo.textContent = seconds < 60
    ? `· refreshed ${seconds} s ago`
    : `· refreshed ${Math.floor(seconds / 60)} min ago`;
}

async function refresh() {
  refreshButton.disabled = true;
  refreshButton.classList.add("is-busy");
  try {
    await Promise.all([loadTotals(), loadAsOf(), loadSchedule(), loadAnomalies(), loadAccounts()]);
    refreshedAt = Date.now();
    showRefreshedAgo();
    document.body.dataset.refreshedAt = String(refreshedAt);
  } finally {
    refreshButton.disabled = false;
    refreshButton.classList.remove("is-busy");
  }
}

const searchLater = debounce(() => {
  state.search = searchInput.value;
  state.page = 1;
  writeAddress();
  loadAccounts();
}, 300);

fillPlatformSelect(platformSelect);
readAddress();
if (state.organization) fillOrganizations([]);

searchInput.addEventListener("input", searchLater);
filters.addEventListener("submit", (event) => {
  event.preventDefault();
  searchLater.cancel();
  state.search = searchInput.value;
  state.page = 1;
  writeAddress();
  loadAccounts();
});
platformSelect.addEventListener("change", () => setFilter({ platform: platformSelect.value, search: searchInput.value }));
organizationSelect.addEventListener("change", () => setFilter({ organization: organizationSelect.value, search: searchInput.value }));
coreCheckbox.addEventListener("change", () => setFilter({ is_core: coreCheckbox.checked, search: searchInput.value }));
pager.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-page]");
  if (!button) return;
  state.page += button.dataset.page === "next" ? 1 : -1;
  state.page = Math.max(1, state.page);
  writeAddress();
  loadAccounts().then(() => document.getElementById("accounts-title").scrollIntoView({ block: "nearest" }));
});
refreshButton.addEventListener("click", refresh);
document.addEventListener("socialmetrics:refresh", refresh);
setInterval(showRefreshedAgo, 1000);

refresh();
