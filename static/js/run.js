// The overview's collection panel: the latest run, whoever started it (this tab, another tab, the
// command line, the schedule), polled at GET /api/runs/latest, with its failures and skip reasons
// from GET /api/job-status/<id> when those counts change. Staff also start a run (POST
// /api/run-scraper, with the platforms ticked) and cancel one (POST /api/runs/<id>/cancel). When a
// run this page watched ends, the overview refreshes.
import { getJSON, h, platformBadge, platformLabel, platforms, postJSON } from "./api.js";
import { formatDateTime, formatDuration, formatExact, formatNumber, formatShare } from "./format.js";

const ACTIVE_MS = 1000; // while a run is going
const IDLE_MS = 5000; // otherwise: a run started elsewhere shows within this
const HIDDEN_MS = 30000; // while the tab is in the background
const ACTIVE = new Set(["pending", "running"]);

const $ = (id) => document.getElementById(id);
const form = $("run-form"); // staff only
const startButton = $("run-start");
const cancelButton = $("run-cancel"); // staff only
const platformList = $("run-platform-list");
const none = $("run-none");
const progress = $("run-progress");
const bar = $("run-bar");
const fraction = $("run-fraction");
const about = $("run-about");
const statusLine = $("run-status");
const messageBox = $("run-message");
const byPlatformBox = $("run-by-platform");
const skipsBox = $("run-skips");
const skipList = $("run-skip-reasons");
const errorsList = $("run-errors");
const fields = {
  rate: $("run-rate"),
  eta: $("run-eta"),
  succeeded: $("run-succeeded"),
  failed: $("run-failed"),
  skipped: $("run-skipped"),
};

const state = { shown: null, detailsKey: "", timer: null, failures: 0, cancelling: null, polling: false };

function showMessage(kind, text, retry) {
  const box = h("div", { class: `alert alert-${kind}`, role: kind === "error" ? "alert" : "status" }, h("p", { text }));
  if (retry) box.append(h("button", { type: "button", class: "btn btn-small", onclick: retry, text: "Retry" }));
  messageBox.replaceChildren(box);
}

function timeLeft(run) {
  if (!ACTIVE.has(run.status)) return "—";
  if (run.eta == null) return run.status === "pending" ? "waiting for a worker" : "estimating…";
  const basis = { rate_limits: " (the platforms' rate limits)", pace: " (at the current pace)" }[run.eta_basis] || "";
  return `${formatDuration(run.eta)}${basis}`;
}

function budget(platform) {
  const limit = platform.rate_limit;
  if (!limit) return "—";
  const text = `${formatExact(limit.requests)} requests / ${formatDuration(limit.seconds)}`;
  return platform.defers_beyond_budget ? `${text}; beyond it deferred` : text;
}

function renderPlatforms(run) {
  const rows = run.platforms || [];
  byPlatformBox.hidden = !ACTIVE.has(run.status) || rows.length === 0;
  if (byPlatformBox.hidden) return;
  const head = h("tr", {}, ...["Platform", "Done", "Left", "Time left", "Budget"].map((text, index) =>
    h("th", { scope: "col", class: index && index < 4 ? "num" : null, text })));
  byPlatformBox.replaceChildren(h("table", { class: "table run-platforms-table", id: "run-platforms-table" },
    h("caption", { class: "visually-hidden", text: "Progress and time left per platform" }),
    h("thead", {}, head),
    h("tbody", {}, rows.map((row) => h("tr", { dataset: { platform: row.platform } },
      h("th", { scope: "row" }, platformBadge(row.platform)),
      h("td", { class: "num", text: formatExact(row.done) }),
      h("td", { class: "num", text: formatExact(row.remaining) }),
      h("td", { class: "num", text: row.remaining ? formatDuration(row.eta) : "—" }),
      h("td", { text: budget(row) }))))));
}

function render(run) {
  none.hidden = true;
  progress.hidden = false;
  progress.dataset.status = run.status;
  progress.dataset.jobId = String(run.job_id);
  const total = run.total || 0;
  const done = run.done || 0;
  bar.max = Math.max(total, 1);
  bar.value = total ? done : ACTIVE.has(run.status) ? 0 : 1;
  fraction.textContent = `${formatExact(done)} / ${formatExact(total)}`;
  const chosen = (run.requested_platforms || []).map(platformLabel).join(", ") || "every platform";
  about.textContent = `Run ${run.job_id} · ${run.mode} · ${chosen} · started ${formatDateTime(run.started_at)}`;
  const took = run.duration_seconds != null ? ` in ${formatDuration(run.duration_seconds)}` : "";
  const because = run.message ? `: ${run.message}` : ".";
  const words = {
    pending: "Waiting to start…",
    running: `Collecting: ${formatExact(done)} of ${formatExact(total)} accounts (${formatShare(total ? (done * 100) / total : 0, { digits: 0 })})`,
    completed: `Completed: ${formatExact(done)} accounts${took}.`,
    failed: `The run failed${because}`,
    interrupted: `The run was interrupted${because}`,
    cancelled: `The run was cancelled${run.cancelled_by ? ` by ${run.cancelled_by}` : ""}${because}`,
  };
  let text = words[run.status] || run.status;
  if (ACTIVE.has(run.status) && run.cancel_requested) text = `Cancelling: the run stops after the batch it is collecting (${formatExact(done)} of ${formatExact(total)} accounts so far).`;
  statusLine.textContent = text;
  statusLine.className = `meta run-status-${run.status}`;
  fields.rate.textContent = run.rate != null ? `${formatNumber(run.rate, { digits: 2 })} accounts/s` : "—";
  fields.eta.textContent = timeLeft(run);
  fields.succeeded.textContent = formatExact(run.succeeded ?? 0);
  fields.failed.textContent = formatExact(run.failed ?? 0);
  fields.skipped.textContent = formatExact(run.skipped ?? 0);
  renderPlatforms(run);
  if (cancelButton) {
    cancelButton.hidden = !ACTIVE.has(run.status);
    cancelButton.disabled = Boolean(run.cancel_requested) || state.cancelling === run.job_id;
    cancelButton.textContent = run.cancel_requested ? "Cancelling…" : "Cancel run";
  }
  if (startButton) {
    startButton.disabled = ACTIVE.has(run.status);
    startButton.textContent = ACTIVE.has(run.status) ? "Running…" : "Run collection";
  }
}

function renderDetails(job) {
  const reasons = job.skip_reasons || [];
  skipsBox.hidden = reasons.length === 0;
  skipList.replaceChildren(...reasons.map((reason) => h("li", { dataset: { platform: reason.platform, status: reason.status } },
    platformBadge(reason.platform), " ",
    h("strong", { class: "skip-count", text: `${formatExact(reason.count)} ${reason.status}` }),
    `: ${reason.reason || "no reason given"}`)));
  errorsList.replaceChildren(...(job.errors || []).map((error) => h("li", {},
    h("strong", { text: `${platformLabel(error.platform)} @${error.handle}` }), `: ${error.error || "failed"}`)));
}

// Failures and skip reasons cost the job status's queries: read only when their counts change.
async function details(run) {
  const key = `${run.job_id}:${run.status}:${run.failed}:${run.skipped}`;
  if (key === state.detailsKey) return;
  if (!run.failed && !run.skipped) {
    state.detailsKey = key;
    renderDetails({});
    return;
  }
  const job = await getJSON(`/api/job-status/${encodeURIComponent(run.job_id)}`);
  state.detailsKey = key;
  renderDetails(job);
}

function ended(run) {
  if (run.status === "completed") {
    const failures = run.failed ? `, ${formatExact(run.failed)} failed` : "";
    showMessage("success", `Collection finished: ${formatExact(run.succeeded ?? 0)} succeeded${failures}, ${formatExact(run.skipped ?? 0)} skipped. The overview shows the new numbers.`);
  } else if (run.status === "cancelled") {
    showMessage("info", `Run ${run.job_id} was cancelled; the ${formatExact(run.done ?? 0)} accounts it collected are kept.`);
  }
  document.dispatchEvent(new CustomEvent("socialmetrics:refresh", { detail: { jobId: run.job_id } }));
}

function schedule(delay) {
  clearTimeout(state.timer);
  state.timer = setTimeout(poll, document.hidden ? Math.max(delay, HIDDEN_MS) : delay);
}

async function poll() {
  clearTimeout(state.timer);
  if (state.polling) return; // the look under way schedules the next
  state.polling = true;
  let run;
  try {
    ({ run } = await getJSON("/api/runs/latest"));
    if (run) await details(run);
  } catch (error) {
    state.failures += 1;
    if (state.failures >= 5) {
      showMessage("error", `Could not read the collection's progress: ${error.message}`, () => { state.failures = 0; messageBox.replaceChildren(); poll(); });
      return;
    }
    showMessage("warning", `Could not read the collection's progress (${error.message}); trying again…`);
    schedule(ACTIVE_MS * 2 * state.failures);
    return;
  } finally {
    state.polling = false;
  }
  if (state.failures) messageBox.replaceChildren();
  state.failures = 0;
  const previous = state.shown;
  state.shown = run ? { id: run.job_id, status: run.status } : null;
  if (!run) {
    none.hidden = false;
    progress.hidden = true;
    schedule(IDLE_MS);
    return;
  }
  render(run);
  // A run watched going, or a new one found already over (started and ended between two looks).
  const watched = previous && previous.id === run.job_id && ACTIVE.has(previous.status);
  const newcomer = previous && previous.id !== run.job_id;
  if (!ACTIVE.has(run.status) && (watched || newcomer)) ended(run);
  schedule(ACTIVE.has(run.status) ? ACTIVE_MS : IDLE_MS);
}

function fillPlatforms() {
  for (const platform of platforms()) {
    const id = `run-platform-${platform.value}`;
    platformList.append(h("span", { class: "field-check run-platform" },
      h("input", { type: "checkbox", id, name: "platforms", value: platform.value }),
      h("label", { for: id, text: platform.label })));
  }
}

async function start(event) {
  event.preventDefault();
  messageBox.replaceChildren();
  startButton.disabled = true;
  const payload = {
    mode: form.elements.mode.value,
    platforms: [...form.querySelectorAll('input[name="platforms"]:checked')].map((box) => box.value),
    accounts: [],
    core_only: form.elements.core_only.checked,
  };
  try {
    const started = await postJSON("/api/run-scraper", payload);
    state.shown = { id: started.job_id, status: started.status }; // its end is this page's to announce
  } catch (error) {
    const runningId = error.body && error.body.run_id;
    if (error.status === 409 && runningId) {
      showMessage("info", `${error.message} Following run ${runningId}.`);
    } else {
      startButton.disabled = false;
      showMessage("error", `Could not start the run: ${error.message}`);
      return;
    }
  }
  poll();
}

async function cancel() {
  const jobId = Number(progress.dataset.jobId);
  state.cancelling = jobId;
  cancelButton.disabled = true;
  try {
    const run = await postJSON(`/api/runs/${encodeURIComponent(jobId)}/cancel`, {});
    render(run);
  } catch (error) {
    showMessage("error", `Could not cancel run ${jobId}: ${error.message}`);
  } finally {
    state.cancelling = null;
  }
  poll();
}

if (form) {
  fillPlatforms();
  form.addEventListener("submit", start);
}
if (cancelButton) cancelButton.addEventListener("click", cancel);
document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(); });
poll();
