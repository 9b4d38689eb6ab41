// Numbers, percentages and dates in the reader's own locale: every Intl formatter here is made with
// no fixed locale, so a de-DE browser reads 345.083 and 01.03.2026, an en-US one 345,083 and
// Mar 1, 2026. Every page formats through this module (api.js re-exports the number helpers).
// Unknown values (null or undefined) show as an em dash.

export const MINUS = "\u2212";
export const NONE = "—";

const exactFormat = new Intl.NumberFormat();
const compactFormat = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
const percentFormat = new Intl.NumberFormat(undefined, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 2 });
const numberFormats = new Map();
const dateFormats = new Map();

const known = (value) => value !== null && value !== undefined && !Number.isNaN(value);

/** A formatter for numbers with between `min` and `max` decimals, made once per pair. */
function decimals(min, max) {
  const key = `${min}:${max}`;
  if (!numberFormats.has(key)) {
    numberFormats.set(key, new Intl.NumberFormat(undefined, { minimumFractionDigits: min, maximumFractionDigits: max }));
  }
  return numberFormats.get(key);
}

// --- Numbers ------------------------------------------------------------------------------------

/** 345083 → "345,083" (en-US), "345.083" (de-DE), "345 083" (fr-FR). */
export function formatExact(value) {
  return known(value) ? exactFormat.format(value) : NONE;
}

/** A number with a fixed count of decimals (or a range of them): 100.5 → "100.5" / "100,5". */
export function formatNumber(value, { digits = 0, minDigits = digits } = {}) {
  return known(value) ? decimals(minDigits, digits).format(value) : NONE;
}

/**
 * 950 → "950", 1234 → "1.2K", 3400000 → "3.4M" (en); where the locale has no short word for a
 * number the exact one is shown, grouped: "1.234", "3,4 Mio." (de, which abbreviates from a million).
 */
export function formatCompact(value) {
  if (!known(value)) return NONE;
  if (Math.abs(value) < 1000) return exactFormat.format(value);
  const parts = compactFormat.formatToParts(value);
  return parts.some((part) => part.type === "compact") ? parts.map((part) => part.value).join("") : exactFormat.format(value);
}

/** A change with its sign: "+1.2K", "−300", "0". */
export function formatSigned(value, format = formatCompact) {
  if (!known(value)) return NONE;
  if (value > 0) return `+${format(value)}`;
  if (value < 0) return `${MINUS}${format(-value)}`;
  return format(0);
}

/** A change in percent (the API's percentage points, 0.54 for 0.54 %): "+0.54%" / "+0,54 %". */
export function formatPercent(value) {
  if (!known(value)) return NONE;
  if (value !== 0 && Math.abs(value) < 0.01) return `<${percentFormat.format(0.0001)}`;
  const text = percentFormat.format(Math.abs(value) / 100);
  if (value > 0) return `+${text}`;
  if (value < 0) return `${MINUS}${text}`;
  return formatShare(0, { digits: 0 });
}

/** A share in percent, unsigned (engagement rate, progress): 2.5 → "2.5%" / "2,5 %". */
export function formatShare(value, { digits = 2, minDigits = 0 } = {}) {
  if (!known(value)) return NONE;
  const key = `%${minDigits}:${digits}`;
  if (!numberFormats.has(key)) {
    numberFormats.set(key, new Intl.NumberFormat(undefined, { style: "percent", minimumFractionDigits: minDigits, maximumFractionDigits: digits }));
  }
  return numberFormats.get(key).format(value / 100);
}

/** "12.3 s", "4 min 5 s", "1 h 2 min": the digits in the reader's locale. */
export function formatDuration(seconds) {
  if (!known(seconds) || !Number.isFinite(seconds)) return NONE;
  if (seconds < 10) return `${formatNumber(Math.max(0, seconds), { digits: 1 })} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${formatExact(Math.floor(s / 3600))} h ${Math.floor((s % 3600) / 60)} min`;
}

/**
 * How the locale writes a number of `unit`s (1e3, 1e6, 1e9) in short form, as [before, after] the
 * digits ("", "K") / ("", " Mio."), or null where it has no such word (de for thousands) or counts
 * in other units (ja: 1e6 is "100万"). Lets chart axes share one unit across all their ticks.
 */
export function compactAffix(unit) {
  const parts = compactFormat.formatToParts(unit);
  const digits = parts.filter((part) => part.type === "integer");
  if (!parts.some((part) => part.type === "compact") || digits.length !== 1 || digits[0].value !== "1") return null;
  const at = parts.findIndex((part) => part.type === "integer");
  const text = (list) => list.map((part) => part.value).join("");
  return [text(parts.slice(0, at)), text(parts.slice(at + 1))];
}

// --- Dates --------------------------------------------------------------------------------------

function dateFormat(key, options) {
  if (!dateFormats.has(key)) dateFormats.set(key, new Intl.DateTimeFormat(undefined, options));
  return dateFormats.get(key);
}

// A calendar day from the API ("2026-03-01") is that day everywhere: read and written in UTC, so
// no reader's time zone moves it to the day before.
function calendarDay(iso) {
  const date = new Date(`${iso}T00:00:00Z`);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** "2026-03-01" → "Mar 1, 2026" (en-US), "01.03.2026" (de-DE); anything else as given. */
export function formatDate(iso, { style = "medium" } = {}) {
  if (!iso) return NONE;
  const date = calendarDay(iso);
  return date ? dateFormat(`day:${style}`, { dateStyle: style, timeZone: "UTC" }).format(date) : String(iso);
}

/** A day on a chart's axis: "Mar 1" / "1. März", with the year when the axis spans several. */
export function formatAxisDate(iso, { withYear = false } = {}) {
  const date = calendarDay(iso);
  if (!date) return String(iso ?? "");
  return withYear
    ? dateFormat("axis:year", { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" }).format(date)
    : dateFormat("axis", { month: "short", day: "numeric", timeZone: "UTC" }).format(date);
}

/** A moment (a Date or an ISO timestamp) in the reader's time zone: "Mar 1, 2026, 6:00 AM". */
export function formatDateTime(value) {
  if (!value) return NONE;
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return dateFormat("moment", { dateStyle: "medium", timeStyle: "short" }).format(date);
}

/** <time datetime="2026-03-01">Mar 1, 2026</time>: the ISO day stays machine-readable. */
export function timeNode(iso, { id = null, className = null } = {}) {
  const node = document.createElement("time");
  node.dateTime = iso || "";
  node.textContent = formatDate(iso);
  if (id) node.id = id;
  if (className) node.className = className;
  return node;
}
