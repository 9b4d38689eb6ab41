// Shared by every page: fetching the JSON API with errors a person can read, number formatting,
// and small DOM helpers. Data is only ever put on the page as text (textContent / text nodes),
// never as HTML, so a handle like "<script>" shows as those characters.

import { formatCompact, formatExact, formatPercent, formatSigned } from "./format.js";

// Numbers and dates are formatted in the reader's locale by format.js; the number helpers are
// re-exported here for the pages that import them with the rest.
export {
  formatCompact, formatDate, formatDateTime, formatDuration, formatExact, formatNumber, formatPercent, formatShare,
  formatSigned, timeNode,
} from "./format.js";

export class ApiError extends Error {
  constructor(message, { status = 0, code = "", field = "", body = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
    this.body = body; // the whole JSON answer (a refused run start names the running run: run_id)
  }
}

/** "/api/grid?page=2&platform=x": parameters that are empty, null or false are left out. */
export function apiUrl(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "" || value === false) continue;
    query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function messageOf(data, response) {
  if (data && data.error) {
    if (typeof data.error === "string") return data.error;
    if (data.error.message) return data.error.message;
  }
  if (data && typeof data.detail === "string") return data.detail;
  if (data && typeof data.message === "string") return data.message;
  if (response.status === 401 || response.status === 403) return "You are not allowed to do this; sign in with a staff account.";
  if (response.status === 404) return "Not found.";
  if (response.status === 413) return "The file is too large.";
  if (response.status >= 500) return "The server failed to answer; the error was logged.";
  return `${response.status} ${response.statusText}`.trim();
}

/**
 * Fetch a URL of the API and return its JSON. Never served from the browser's cache: the server's
 * cache is authoritative (and invalidated by every write), so an upload or a run shows at once.
 * Throws ApiError with the server's own message, or a network message when it cannot be reached.
 */
export async function request(url, { method = "GET", body, headers = {}, signal } = {}) {
  let response;
  try {
    response = await fetch(url, {
      method,
      body,
      signal,
      cache: "no-store",
      credentials: "same-origin",
      headers: { Accept: "application/json", ...headers },
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError("The server could not be reached. Check your connection and that the server is running.");
  }
  let data = null;
  if ((response.headers.get("Content-Type") || "").includes("json")) {
    try {
      data = await response.json();
    } catch {
      // Aborted while the body arrived: the caller moved on, as when the request itself is aborted.
      signal?.throwIfAborted();
      data = null;
    }
  }
  if (!response.ok) {
    const detail = data && typeof data.error === "object" && data.error ? data.error : {};
    throw new ApiError(messageOf(data, response), {
      status: response.status,
      code: detail.code,
      field: detail.field,
      body: data,
    });
  }
  return data;
}

export function getJSON(path, params = {}, options = {}) {
  return request(apiUrl(path, params), options);
}

export function postJSON(path, payload, options = {}) {
  return request(path, {
    ...options,
    method: "POST",
    body: JSON.stringify(payload),
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
  });
}

export function postForm(path, formData, options = {}) {
  return request(path, { ...options, method: "POST", body: formData, headers: { "X-CSRFToken": csrfToken() } });
}

// --- Numbers ------------------------------------------------------------------------------------

/** A compact number with the exact one on hover (and for screen readers). */
export function numberNode(value, { className = "" } = {}) {
  const node = h("data", { class: className || null, value: value ?? "", text: formatCompact(value) });
  if (value !== null && value !== undefined) {
    node.title = formatExact(value);
    if (Math.abs(value) >= 1000) node.setAttribute("aria-label", formatExact(value));
  }
  return node;
}

/** "▲ +1.2K (+0.54%)" in green, "▼ −300 (−0.10%)" in red, "—" when unknown. */
export function changeNode(absolute, percent) {
  if (absolute === null || absolute === undefined) {
    return h("span", { class: "change change-none", title: "Not known yet (too little history)", text: "—" });
  }
  const direction = absolute > 0 ? "up" : absolute < 0 ? "down" : "flat";
  const arrow = { up: "▲", down: "▼", flat: "■" }[direction];
  const text = percent === null || percent === undefined
    ? formatSigned(absolute)
    : `${formatSigned(absolute)} (${formatPercent(percent)})`;
  const node = h("span", { class: `change change-${direction}`, dataset: { value: String(absolute) } },
    h("span", { "aria-hidden": "true", class: "arrow", text: arrow }), " ", text);
  node.title = `${formatSigned(absolute, formatExact)} followers`;
  return node;
}

/** The change over two lines, for narrow table cells: "▲ +1.2K" above "+0.54%". */
export function changeStack(absolute, percent) {
  if (absolute === null || absolute === undefined) return changeNode(absolute, null);
  const line = changeNode(absolute, null);
  const node = h("span", { class: `${line.className} change-stack`, dataset: { value: String(absolute) } },
    h("span", {}, ...line.childNodes), h("small", { class: "change-percent", text: formatPercent(percent) }));
  node.title = `${formatSigned(absolute, formatExact)} followers (${formatPercent(percent)})`;
  return node;
}

// --- DOM ----------------------------------------------------------------------------------------

/**
 * The mark of a day whose follower count is flagged as implausible: the reason on hover and for
 * screen readers. The values themselves are shown as stored.
 */
export function anomalyMark(reason) {
  return h("span", { class: "anomaly-mark", title: `Anomaly: ${reason}`, "aria-label": `Anomaly: ${reason}`, role: "img", text: "⚠" });
}

/** h("a", {href, class, text}, child...) — children are nodes or strings (added as text). */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    // Through the CSSOM: the Content-Security-Policy refuses style="" attributes, not this.
    else if (key === "style") node.style.cssText = value;
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function debounce(fn, wait = 300) {
  let timer = null;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}

/** Replace a panel's content by a message saying what failed, and a Retry button. */
export function showError(container, { what, error, retry }) {
  container.setAttribute("aria-busy", "false");
  const box = h("div", { class: "alert alert-error", role: "alert" },
    h("p", {}, h("strong", { text: `Could not load ${what}.` }), " ", error && error.message ? error.message : String(error)));
  if (retry) {
    box.append(h("button", { type: "button", class: "btn btn-small", onclick: retry, text: "Retry" }));
  }
  container.replaceChildren(box);
  return box;
}

export function skeletonLines(count, className = "skeleton-line") {
  return Array.from({ length: count }, () => h("div", { class: `skeleton ${className}`, "aria-hidden": "true" }));
}

export function spinner(label = "Loading…") {
  return h("div", { class: "spinner-wrap", role: "status" },
    h("span", { class: "spinner", "aria-hidden": "true" }), h("span", { class: "visually-hidden", text: label }));
}

// --- Platforms and links ------------------------------------------------------------------------

let platformLabels = null;

export function platforms() {
  const node = document.getElementById("platforms-data");
  return node ? JSON.parse(node.textContent) : [];
}

export function platformLabel(value) {
  if (!platformLabels) platformLabels = new Map(platforms().map((p) => [p.value, p.label]));
  return platformLabels.get(value) || value;
}

export function platformBadge(value) {
  return h("span", { class: `badge badge-${String(value).replace(/[^a-z_]/g, "")}`, text: platformLabel(value) });
}

export function accountUrl(platform, handle) {
  return `/accounts/${encodeURIComponent(platform)}/${encodeURIComponent(handle)}/`;
}

export function historyUrl(platform, handle) {
  return `/api/history/${encodeURIComponent(platform)}/${encodeURIComponent(handle)}`;
}

export function fillPlatformSelect(select) {
  for (const platform of platforms()) {
    select.append(h("option", { value: platform.value, text: platform.label }));
  }
}

// --- Dates and time -----------------------------------------------------------------------------

export function isoDate(date) {
  return date.toISOString().slice(0, 10);
}

/** The ISO day `days` days before an ISO day. */
export function daysBefore(iso, days) {
  const date = new Date(`${iso}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() - days);
  return isoDate(date);
}

// --- Chart.js, loaded only when a chart is about to be drawn --------------------------------------

let chartLibrary = null;

export function loadChartJs() {
  if (window.Chart) return Promise.resolve(window.Chart);
  if (!chartLibrary) {
    chartLibrary = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = document.body.dataset.chartSrc;
      script.async = true;
      script.onload = () => resolve(window.Chart);
      script.onerror = () => {
        chartLibrary = null;
        script.remove();
        reject(new Error("The chart library (Chart.js) could not be loaded from this server; run `make run` to install it."));
      };
      document.head.append(script);
    });
  }
  return chartLibrary;
}

/** Resolves once the element is near the viewport (at once where IntersectionObserver is missing). */
export function whenVisible(element) {
  if (!("IntersectionObserver" in window)) return Promise.resolve();
  return new Promise((resolve) => {
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) {
        observer.disconnect();
        resolve();
      }
    }, { rootMargin: "200px" });
    observer.observe(element);
  });
}

export const PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2"];
