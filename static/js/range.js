// The date range of the account and compare pages: preset buttons (30 d, 90 d, 1 y, All) and From/To
// pickers, kept in the address (?range=30, or ?from=2026-01-01&to=2026-03-31) so a view can be shared
// and reloaded; each range chosen is a step of the browser's history, so Back returns to the one
// before. Every range applied is announced as a "socialmetrics:range" event on document, detail
// {range, from, to} (null: no bound), so other panels of the page follow it; #main carries the same
// as data-range, data-range-from and data-range-to for a panel that starts later.
//
// The pickers check what the API checks (a day of the calendar as YYYY-MM-DD, From not after To) and
// say so beside them, without a request; a range the API still refuses is reported by the page with
// the API's own words.
import { daysBefore, formatDate } from "./api.js";

export const PRESETS = ["30", "90", "365", "all"];
const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;
const RANGE_PARAMS = ["range", "from", "to"];

/** Whether `text` is a day of the calendar written YYYY-MM-DD. */
export function isDay(text) {
  if (!ISO_DAY.test(text || "")) return false;
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === text;
}

/** Why From and To cannot be used together (the API's rule for history and the grid), or null. */
export function rangeProblem(from, to) {
  if (from && !isDay(from)) return "From: expected a day as YYYY-MM-DD.";
  if (to && !isDay(to)) return "To: expected a day as YYYY-MM-DD.";
  if (from && to && from > to) return "From must not be after To.";
  return null;
}

/** The range an address names: a preset, or "custom" with its From and To (either may be null). */
export function rangeInAddress(search, fallback = "90") {
  const params = new URLSearchParams(search);
  const from = isDay(params.get("from")) ? params.get("from") : null;
  const to = isDay(params.get("to")) ? params.get("to") : null;
  if ((from || to) && !rangeProblem(from, to)) return { range: "custom", from, to };
  const preset = params.get("range");
  return { range: PRESETS.includes(preset) ? preset : fallback, from: null, to: null };
}

export class RangeControl {
  /**
   * `buttons`: the group of preset buttons (data-range); `form`: the From/To form (inputs named from
   * and to, an element .range-problem for the message); `onChange`: called after each range applied
   * by the reader (a button, the pickers, and Back and Forward unless `followBack` is false: the
   * page then calls `sync()` from its own popstate handler).
   */
  constructor({ buttons, form, fallback = "90", onChange, followBack = true }) {
    this.buttons = buttons;
    this.fallback = fallback;
    this.onChange = onChange;
    this.fromInput = form.elements.from;
    this.toInput = form.elements.to;
    this.problem = form.querySelector(".range-problem");
    this.state = rangeInAddress(window.location.search, fallback);
    this.end = null;
    buttons.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-range]");
      if (!button || button.dataset.range === this.state.range) return;
      this.choose({ range: button.dataset.range, from: null, to: null });
    });
    form.addEventListener("change", () => this.picked());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.picked();
    });
    if (followBack) {
      window.addEventListener("popstate", () => {
        if (this.sync()) this.onChange();
      });
    }
    this.show();
  }

  /** Read the range from the address again (Back, Forward); whether it changed. */
  sync() {
    const next = rangeInAddress(window.location.search, this.fallback);
    const changed = this.key(next) !== this.key();
    this.state = next;
    this.show();
    return changed;
  }

  /** "30", "90", "365", "all", or "FROM/TO" for a custom range: what the page's charts show. */
  key(state = this.state) {
    return state.range === "custom" ? `${state.from || ""}/${state.to || ""}` : state.range;
  }

  get isAll() {
    return this.state.range === "all";
  }

  /**
   * The range as the API's from/to ({} for all history): a preset ends on `end` (the data's last
   * day), a custom range is as chosen. Shows the days in the pickers and announces the range.
   */
  params(end) {
    this.end = end;
    const { range, from, to } = this.state;
    let bounds;
    if (range === "all") bounds = { from: null, to: null };
    else if (range === "custom") bounds = { from, to };
    else bounds = { from: daysBefore(end, Number(range) - 1), to: end };
    this.fromInput.value = bounds.from || "";
    this.toInput.value = bounds.to || "";
    this.announce(bounds);
    const params = {};
    if (bounds.from) params.from = bounds.from;
    if (bounds.to) params.to = bounds.to;
    return params;
  }

  /** "2026-01-01 to 2026-03-31" in the reader's words, for the note beside the controls. */
  describe(params) {
    if (!params.from && !params.to) return "All history";
    if (!params.to) return `From ${formatDate(params.from)}`;
    if (!params.from) return `Until ${formatDate(params.to)}`;
    return `${formatDate(params.from)} to ${formatDate(params.to)}`;
  }

  /** Put this range's parameters (and only them) into `params`, a URLSearchParams. */
  writeInto(params) {
    for (const name of RANGE_PARAMS) params.delete(name);
    if (this.state.range === "custom") {
      if (this.state.from) params.set("from", this.state.from);
      if (this.state.to) params.set("to", this.state.to);
    } else if (this.state.range !== this.fallback) {
      params.set("range", this.state.range);
    }
    return params;
  }

  /** Show the API's refusal of the range beside the pickers (a 400 naming from or to). */
  refused(error) {
    if (!error || error.status !== 400 || !["from", "to"].includes(error.field)) return false;
    this.say(`${error.field === "from" ? "From" : "To"}: ${error.message}`);
    return true;
  }

  /** Apply a range the reader chose: a new step of the history, except that From and To picked one
   * after the other make one step (Back returns to the range before the pickers were touched). */
  choose(state, { picked = false } = {}) {
    this.state = state;
    const params = this.writeInto(new URLSearchParams(window.location.search));
    const query = params.toString();
    const address = query ? `?${query}` : window.location.pathname;
    const mark = picked ? { range: "picked" } : null;
    if (picked && window.history.state && window.history.state.range === "picked") {
      window.history.replaceState(mark, "", address);
    } else {
      window.history.pushState(mark, "", address);
    }
    this.show();
    this.onChange();
  }

  picked() {
    const from = this.fromInput.value.trim() || null;
    const to = this.toInput.value.trim() || null;
    if (!from && !to) { // both cleared: back to the page's default range
      if (this.state.range === "custom") this.choose({ range: this.fallback, from: null, to: null }, { picked: true });
      return;
    }
    const problem = rangeProblem(from, to);
    if (problem) {
      const reversed = Boolean(from && to && from > to);
      this.say(problem, { from: reversed || (from && !isDay(from)), to: reversed || (to && !isDay(to)) });
      return;
    }
    this.say("");
    const next = { range: "custom", from, to };
    // The days of a preset, picked again, are that preset.
    if (this.key(next) === this.key() || this.presetDays(next) === this.state.range) return;
    const preset = this.presetDays(next);
    this.choose(preset ? { range: preset, from: null, to: null } : next, { picked: true });
  }

  /** The preset whose days `state` covers, given the data's last day, or null. */
  presetDays(state) {
    if (!this.end || state.to !== this.end || !state.from) return null;
    return PRESETS.find((p) => p !== "all" && daysBefore(this.end, Number(p) - 1) === state.from) || null;
  }

  say(message, invalid = {}) {
    if (this.problem) this.problem.textContent = message;
    this.fromInput.setAttribute("aria-invalid", String(Boolean(message && invalid.from)));
    this.toInput.setAttribute("aria-invalid", String(Boolean(message && invalid.to)));
  }

  show() {
    for (const button of this.buttons.querySelectorAll("button[data-range]")) {
      button.setAttribute("aria-pressed", String(button.dataset.range === this.state.range));
    }
    if (this.state.range === "custom") {
      this.fromInput.value = this.state.from || "";
      this.toInput.value = this.state.to || "";
    }
    this.say("");
  }

  announce({ from, to }) {
    const main = document.getElementById("main");
    main.dataset.range = this.state.range;
    main.dataset.rangeFrom = from || "";
    main.dataset.rangeTo = to || "";
    document.dispatchEvent(new CustomEvent("socialmetrics:range", { detail: { range: this.state.range, from, to } }));
  }
}

