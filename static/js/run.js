// Staff: start a collection run (POST /api/run-scraper) and follow it (GET /api/job-status/<id>)
// until it ends; then the overview refreshes. A run in progress survives a page reload.
import { formatDuration, formatExact, getJSON, h, platformLabel, postJSON } from "./api.js";

const POLL_MS = 1000;
const STORAGE_KEY = "socialmetrics.run";
const FINAL = new Set(["completed", "failed", "interrupted"]);

const form = document.getElementById("run-form");
const startButton = document.getElementById("run-start");
const progress = document.getElementById("run-progress");
const bar = document.getElementById("run-bar");
const fraction = document.getElementById("run-fraction");
const statusLine = document.getElementById("run-status");
const messageBox = document.getElementById("run-message");
const errorsList = document.getElementById("run-errors");
const fields = {
  rate: document.getElementById("run-rate"),
  eta: document.getElementById("run-eta"),
  succeeded: document.getElementById("run-succeeded"),
  failed: document.getElementById("run-failed"),
  skipped: document.getElementById("run-skipped"),
};

let timer = null;
let pollFailures = 0;

function showMessage(kind, text, retry) {
  const box = h("div", { class: `alert alert-${kind}`, role: kind === "error" ? "alert" : "status" }, h("p", { text }));
  if (retry) box.append(h("button", { type: "button", class: "btn btn-small", onclick: retry, text: "Retry" }));
  messageBox.replaceChildren(box);
}

function render(job) {
  progress.hidden = false;
  progress.dataset.status = job.status;
  progress.dataset.jobId = String(job.job_id);
  const total = job.total || 0;
  const done = job.done || 0;
  bar.max = Math.max(total, 1);
  bar.value = total ? done : FINAL.has(job.status) ? 1 : 0;
  fraction.textContent = `${formatExact(done)} / ${formatExact(total)}`;
  const percent = total ? Math.round((done * 100) / total) : 0;
  const words = {
    pending: "Waiting to start…",
    running: `Collecting: ${formatExact(done)} of ${formatExact(total)} accounts (${percent}%)`,
    completed: `Completed: ${formatExact(done)} accounts${job.duration_seconds != null ? ` in ${formatDuration(job.duration_seconds)}` : ""}.`,
    failed: `The run failed${job.message ? `: ${job.message}` : "."}`,
    interrupted: `The run was interrupted${job.message ? `: ${job.message}` : "."}`,
  };
  statusLine.textContent = words[job.status] || job.status;
  statusLine.className = `meta run-status-${job.status}`;
  fields.rate.textContent = job.rate != null ? `${job.rate} accounts/s` : "—";
  fields.eta.textContent = FINAL.has(job.status) ? "—" : formatDuration(job.eta);
  fields.succeeded.textContent = formatExact(job.succeeded ?? 0);
  fields.failed.textContent = formatExact(job.failed ?? 0);
  fields.skipped.textContent = formatExact(job.skipped ?? 0);
  errorsList.replaceChildren(...(job.errors || []).map((error) => h("li", {},
    h("strong", { text: `${platformLabel(error.platform)} @${error.handle}` }), `: ${error.error || "failed"}`)));
}

function finish(job) {
  sessionStorage.removeItem(STORAGE_KEY);
  startButton.disabled = false;
  startButton.textContent = "Run collection";
  const failures = job.failed ? `, ${formatExact(job.failed)} failed` : "";
  if (job.status === "completed") {
    showMessage("success", `Collection finished: ${formatExact(job.succeeded ?? 0)} succeeded${failures}, ${formatExact(job.skipped ?? 0)} skipped. The overview shows the new numbers.`);
  }
  document.dispatchEvent(new CustomEvent("socialmetrics:refresh", { detail: { jobId: job.job_id } }));
}

async function poll(jobId) {
  clearTimeout(timer);
  try {
    const job = await getJSON(`/api/job-status/${encodeURIComponent(jobId)}`);
    pollFailures = 0;
    render(job);
    if (FINAL.has(job.status)) {
      finish(job);
      return;
    }
    timer = setTimeout(() => poll(jobId), POLL_MS);
  } catch (error) {
    pollFailures += 1;
    if (error.status === 404 || pollFailures >= 5) {
      sessionStorage.removeItem(STORAGE_KEY);
      startButton.disabled = false;
      startButton.textContent = "Run collection";
      showMessage("error", `Could not read the progress of run ${jobId}: ${error.message}`,
        error.status === 404 ? null : () => { pollFailures = 0; messageBox.replaceChildren(); poll(jobId); });
      return;
    }
    showMessage("warning", `Could not read the progress (${error.message}); trying again…`);
    timer = setTimeout(() => poll(jobId), POLL_MS * 2 * pollFailures);
  }
}

function follow(jobId) {
  sessionStorage.setItem(STORAGE_KEY, String(jobId));
  startButton.disabled = true;
  startButton.textContent = "Running…";
  poll(jobId);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  messageBox.replaceChildren();
  startButton.disabled = true;
  const payload = {
    mode: form.elements.mode.value,
    platforms: [],
    accounts: [],
    core_only: form.elements.core_only.checked,
  };
  try {
    const started = await postJSON("/api/run-scraper", payload);
    render({ job_id: started.job_id, status: started.status, total: started.account_count, done: 0, errors: [] });
    follow(started.job_id);
  } catch (error) {
    const runningId = error.body && error.body.run_id;
    if (error.status === 409 && runningId) {
      showMessage("info", `${error.message} Following run ${runningId}.`);
      follow(runningId);
      return;
    }
    startButton.disabled = false;
    showMessage("error", `Could not start the run: ${error.message}`);
  }
});

const running = sessionStorage.getItem(STORAGE_KEY);
if (running) follow(running);
