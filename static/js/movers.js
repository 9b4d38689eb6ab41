// The overview's "Top movers": the accounts that gained and lost the most followers over 7 or 30
// days, in followers or in percent, from /api/movers (cached on the server, new after every write).
// Reloads with the overview's Refresh button and after a collection run.
import { accountUrl, anomalyMark, changeNode, getJSON, h, numberNode, platformBadge, showError } from "./api.js";
import { formatDate } from "./format.js";

const LIMIT = 5;

const panel = document.getElementById("movers");
const lists = document.getElementById("movers-lists");
const gainersList = document.getElementById("movers-gainers");
const losersList = document.getElementById("movers-losers");
const note = document.getElementById("movers-note");
const periodButtons = document.getElementById("movers-period");
const measureButtons = document.getElementById("movers-measure");

const state = { days: "7", measure: "change" };
let moversRequest = null;
let shown = null; // the last answer: switching between followers and percent needs no request

function pressed(group, attribute, value) {
  for (const button of group.querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset[attribute] === value));
  }
}

function moverRow(mover) {
  return h("li", { class: "mover", dataset: { key: `${mover.platform}:${mover.handle.toLowerCase()}`, change: String(mover.change) } },
    platformBadge(mover.platform), " ",
    h("a", { class: "mover-handle", href: accountUrl(mover.platform, mover.handle), text: `@${mover.handle}` }),
    mover.anomaly ? [" ", anomalyMark(mover.anomaly_reason)] : null,
    h("span", { class: "mover-numbers" },
      changeNode(mover.change, mover.change_pct), " ",
      h("span", { class: "muted mover-followers" }, numberNode(mover.followers), " followers")));
}

function fill(list, movers, empty) {
  list.replaceChildren(...(movers.length ? movers.map(moverRow) : [h("li", { class: "muted mover-none", text: empty })]));
}

function render(body) {
  const percent = state.measure === "pct";
  fill(gainersList, percent ? body.gainers_pct : body.gainers, `No account gained followers in these ${body.days} days.`);
  fill(losersList, percent ? body.losers_pct : body.losers, `No account lost followers in these ${body.days} days.`);
  note.textContent = body.as_of
    ? `Change in followers over the ${body.days} days to ${formatDate(body.as_of)}, ranked ${percent ? "in percent of the count it grew from" : "by followers gained or lost"}.`
    : "No snapshots yet.";
  panel.dataset.days = String(body.days);
  panel.dataset.measure = state.measure;
}

async function load() {
  if (moversRequest) moversRequest.abort();
  const controller = new AbortController();
  moversRequest = controller;
  lists.setAttribute("aria-busy", "true");
  try {
    shown = await getJSON("/api/movers", { days: state.days, limit: LIMIT }, { signal: controller.signal });
    render(shown);
  } catch (error) {
    if (error.name === "AbortError") return;
    shown = null;
    for (const list of [gainersList, losersList]) list.replaceChildren();
    showError(note, { what: "the top movers", error, retry: load });
  } finally {
    if (moversRequest === controller) {
      moversRequest = null;
      lists.setAttribute("aria-busy", "false");
    }
  }
}

periodButtons.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-days]");
  if (!button || button.dataset.days === state.days) return;
  state.days = button.dataset.days;
  pressed(periodButtons, "days", state.days);
  load();
});
measureButtons.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-measure]");
  if (!button || button.dataset.measure === state.measure) return;
  state.measure = button.dataset.measure;
  pressed(measureButtons, "measure", state.measure);
  if (shown && String(shown.days) === state.days) render(shown);
  else load();
});
const refreshButton = document.getElementById("refresh");
if (refreshButton) refreshButton.addEventListener("click", load);
document.addEventListener("socialmetrics:refresh", load);

load();
