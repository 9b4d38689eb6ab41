// The data grid: /api/grid filtered, sorted and paged on the server; the download link carries the
// same filters and order to /api/download. The state lives in the address, so a view can be shared.
// A row whose follower count is flagged as an anomaly is marked, the reason on hover. Rows come as
// named fields (rows=objects), the day's engagement rate among them.
import {
  accountUrl, anomalyMark, apiUrl, debounce, fillPlatformSelect, formatExact, getJSON, h, platformBadge, showError,
} from "./api.js";
import { formatRate } from "./engagement.js";
import { timeNode } from "./format.js";

const FILTERS = ["platform", "organization", "handle", "from", "to", "is_core"];
const DEFAULT_PER_PAGE = "50";

const form = document.getElementById("grid-filters");
const table = document.getElementById("grid-table");
const body = document.getElementById("grid-body");
const status = document.getElementById("grid-status");
const pager = document.getElementById("grid-pager");
const pageInput = document.getElementById("grid-page");
const pagesLabel = document.getElementById("grid-pages");
const download = document.getElementById("download");
const organizationSelect = document.getElementById("grid-organization");
const columns = [...table.querySelectorAll("thead th")].map((th) => ({ name: th.dataset.column, kind: th.dataset.kind }));

const state = { page: 1, per_page: DEFAULT_PER_PAGE, ordering: "", pages: 1 };
for (const name of FILTERS) state[name] = "";
let gridRequest = null;

function filterParams() {
  const params = {};
  for (const name of FILTERS) params[name] = state[name];
  params.ordering = state.ordering;
  return params;
}

function readAddress() {
  const params = new URLSearchParams(window.location.search);
  for (const name of FILTERS) state[name] = params.get(name) || "";
  state.ordering = params.get("ordering") || "";
  state.per_page = params.get("per_page") || DEFAULT_PER_PAGE;
  state.page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  for (const name of FILTERS) {
    const field = form.elements[name];
    if (field.type === "checkbox") field.checked = state[name] === "true";
    else field.value = state[name];
  }
  form.elements.per_page.value = state.per_page;
}

function writeAddress() {
  const params = { ...filterParams(), page: state.page > 1 ? state.page : "", per_page: state.per_page !== DEFAULT_PER_PAGE ? state.per_page : "" };
  window.history.replaceState(null, "", apiUrl(window.location.pathname, params));
}

function showSort() {
  const ordering = state.ordering || "-date";
  const descending = ordering.startsWith("-");
  const column = ordering.replace(/^-/, "");
  for (const th of table.querySelectorAll("thead th")) {
    const sorted = th.dataset.column === column;
    th.setAttribute("aria-sort", sorted ? (descending ? "descending" : "ascending") : "none");
    th.querySelector(".sort-mark").textContent = sorted ? (descending ? " ▼" : " ▲") : "";
  }
}

function cell(value, index) {
  const column = columns[index];
  if (column.kind === "num") {
    return h("td", { class: "num", text: formatExact(value) });
  }
  if (column.kind === "rate") return h("td", { class: "num", text: formatRate(value) });
  if (column.name === "platform") return h("td", {}, platformBadge(value));
  if (column.name === "date") return h("td", {}, timeNode(value));
  if (column.name === "org_name" && !value) return h("td", { class: "muted", text: "—" });
  return h("td", { text: value ?? "—" });
}

const FOLLOWERS = columns.findIndex((column) => column.name === "followers");

// An API row (named fields): the columns' values, whether the day is flagged as an anomaly, and why.
function row(record) {
  const { platform, handle, anomaly: flagged, anomaly_reason: reason } = record;
  const cells = columns.map((column, index) => cell(record[column.name], index));
  cells[1].replaceChildren(h("a", { href: accountUrl(platform, handle), text: `@${handle}` }));
  if (!flagged) return h("tr", {}, cells);
  cells[FOLLOWERS].classList.add("anomaly-cell");
  cells[FOLLOWERS].title = `Anomaly: ${reason}`;
  cells[FOLLOWERS].prepend(anomalyMark(reason), " ");
  return h("tr", { class: "is-anomaly", title: `Anomaly: ${reason}` }, cells);
}

function renderPager(pagination) {
  state.pages = Math.max(1, pagination.pages);
  pageInput.value = String(pagination.page);
  pageInput.max = String(state.pages);
  pagesLabel.textContent = `of ${formatExact(state.pages)}`;
  pager.querySelector('[data-page="first"]').disabled = pagination.page <= 1;
  pager.querySelector('[data-page="prev"]').disabled = pagination.page <= 1;
  pager.querySelector('[data-page="next"]').disabled = pagination.page >= pagination.pages;
  pager.querySelector('[data-page="last"]').disabled = pagination.page >= pagination.pages;
}

async function load() {
  if (gridRequest) gridRequest.abort();
  const controller = new AbortController();
  gridRequest = controller;
  writeAddress();
  showSort();
  download.href = apiUrl("/api/download", filterParams());
  body.setAttribute("aria-busy", "true");
  table.classList.add("is-loading");
  try {
    const page = await getJSON("/api/grid", { ...filterParams(), page: state.page, per_page: state.per_page, rows: "objects" }, { signal: controller.signal });
    const { total, pages, page: number } = page.pagination;
    if (page.data.length === 0 && number > 1 && pages > 0) {
      state.page = pages;
      return load();
    }
    if (page.data.length === 0) {
      body.replaceChildren(h("tr", {}, h("td", { colspan: columns.length, class: "empty" },
        "No snapshot matches these filters. ", h("button", { type: "button", class: "linklike", onclick: clearFilters, text: "Clear filters" }))));
    } else {
      body.replaceChildren(...page.data.map(row));
    }
    const estimated = page.pagination.total_estimated ? "about " : "";
    status.textContent = `${estimated}${formatExact(total)} ${total === 1 ? "row" : "rows"} · page ${formatExact(number)} of ${formatExact(Math.max(1, pages))}`;
    renderPager(page.pagination);
    table.dataset.page = String(number);
    table.dataset.ordering = state.ordering;
  } catch (error) {
    if (error.name === "AbortError") return;
    status.textContent = "";
    const holder = h("td", { colspan: columns.length });
    body.replaceChildren(h("tr", {}, holder));
    showError(holder, { what: "the grid", error, retry: load });
  } finally {
    if (gridRequest === controller) {
      gridRequest = null;
      body.setAttribute("aria-busy", "false");
      table.classList.remove("is-loading");
    }
  }
}

function readForm() {
  for (const name of FILTERS) {
    const field = form.elements[name];
    state[name] = field.type === "checkbox" ? (field.checked ? "true" : "") : field.value.trim();
  }
  state.per_page = form.elements.per_page.value;
  state.page = 1;
}

function clearFilters() {
  form.reset();
  readForm();
  load();
}

const loadLater = debounce(() => { readForm(); load(); }, 300);

form.addEventListener("input", (event) => {
  if (event.target.type === "search") loadLater();
});
form.addEventListener("change", (event) => {
  if (event.target.type === "search") return;
  loadLater.cancel();
  readForm();
  load();
});
form.addEventListener("submit", (event) => {
  event.preventDefault();
  loadLater.cancel();
  readForm();
  load();
});
form.addEventListener("reset", () => setTimeout(() => { readForm(); load(); }));

table.querySelector("thead").addEventListener("click", (event) => {
  const th = event.target.closest("th[data-column]");
  if (!th) return;
  const column = th.dataset.column;
  const current = state.ordering || "-date";
  if (current.replace(/^-/, "") === column) {
    state.ordering = current.startsWith("-") ? column : `-${column}`;
  } else {
    state.ordering = th.dataset.kind !== "text" || column === "date" ? `-${column}` : column;
  }
  if (state.ordering === "-date") state.ordering = "";
  state.page = 1;
  load();
});

pager.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-page]");
  if (!button) return;
  const moves = { first: 1, prev: state.page - 1, next: state.page + 1, last: state.pages };
  state.page = Math.min(Math.max(1, moves[button.dataset.page]), state.pages);
  load();
});
pageInput.addEventListener("change", () => {
  const wanted = parseInt(pageInput.value, 10);
  if (!Number.isFinite(wanted)) return;
  state.page = Math.min(Math.max(1, wanted), state.pages);
  load();
});

fillPlatformSelect(form.elements.platform);
readAddress();
load();
getJSON("/api/summary/totals").then((totals) => {
  const names = totals.organizations.map((o) => o.organization).filter(Boolean);
  if (state.organization && !names.includes(state.organization)) names.push(state.organization);
  for (const name of names) organizationSelect.append(h("option", { value: name, text: name }));
  organizationSelect.value = state.organization;
}).catch(() => {
  organizationSelect.append(h("option", { value: "", disabled: true, text: "(the list could not be loaded)" }));
});
