// The account page's "Top posts": the account's posts published in the page's range, the most
// engaging first (likes + comments + shares), from /api/posts. The range is the page's own
// (range.js): each range it applies is announced as a "socialmetrics:range" event, detail {from, to}
// (null: no bound), and kept on #main. Until the first announcement (the charts wait for the
// account's history) it is read from the address as range.js reads it, a preset ending on the
// account's latest snapshot day as the charts' do, so the posts load alongside the charts.
import { daysBefore, formatDateTime, formatExact, getJSON, h, isoDate, showError } from "./api.js";
import { rangeInAddress } from "./range.js";

const TOP = 5;
const TEXT_SHOWN = 140;
const COUNTS = [["likes", "Likes"], ["comments", "Comments"], ["shares", "Shares"], ["views", "Views"], ["engagement", "Engagement"]];
const TYPES = { reply: "Reply", repost: "Repost", video: "Video", short: "Short video", link: "Link", other: "Other" };

const main = document.getElementById("main");
const panel = document.getElementById("top-posts-panel");
const box = document.getElementById("top-posts");
const note = document.getElementById("top-posts-note");
const platform = main.dataset.platform;
const handle = main.dataset.handle;

let latestDay = null;
let shown = "";
let pending = null;

/** {from, to} of the page's range (null: no bound): as announced, else as the address names it. */
function pageRange(detail = null) {
  if (detail) return { from: detail.from || null, to: detail.to || null };
  if (main.dataset.range) return { from: main.dataset.rangeFrom || null, to: main.dataset.rangeTo || null };
  const { range, from, to } = rangeInAddress(window.location.search);
  if (range === "custom") return { from, to };
  if (range === "all") return { from: null, to: null };
  const end = latestDay || isoDate(new Date());
  return { from: daysBefore(end, Number(range) - 1), to: end };
}

function postCell(post) {
  const full = post.text || "";
  const text = full.length > TEXT_SHOWN ? `${full.slice(0, TEXT_SHOWN - 1)}…` : full || "(no text)";
  const kind = TYPES[post.post_type];
  const label = post.url
    ? h("a", { href: post.url, target: "_blank", rel: "noopener noreferrer", class: "post-link", text })
    : h("span", { class: "post-text", text });
  if (full.length > TEXT_SHOWN) label.title = full;
  return h("td", { class: "post-cell" }, label, kind ? h("span", { class: "tag tag-muted", text: kind }) : null);
}

function render(page, range) {
  const posts = page.data;
  const total = page.pagination.total;
  const span = range.from || range.to ? "in this range" : "so far";
  if (!posts.length) {
    note.textContent = "";
    box.replaceChildren(h("p", { class: "muted", id: "top-posts-empty", text: `No post of this account was collected ${span}.` }));
    return;
  }
  note.textContent = `The ${formatExact(posts.length)} most engaging of ${formatExact(total)} ${total === 1 ? "post" : "posts"} published ${span}: likes, comments and shares as last collected.`;
  const head = h("tr", {}, h("th", { scope: "col", text: "Post" }), h("th", { scope: "col", text: "Published" }),
    ...COUNTS.map(([, label]) => h("th", { scope: "col", class: "num", text: label })));
  const rows = posts.map((post) => h("tr", { dataset: { postId: post.post_id } },
    postCell(post),
    h("td", { class: "post-time" }, h("time", { datetime: post.published_at, text: formatDateTime(post.published_at) })),
    ...COUNTS.map(([key]) => h("td", { class: "num", text: formatExact(post[key]) }))));
  box.replaceChildren(h("table", { class: "table posts-table", id: "top-posts-table" },
    h("caption", { class: "visually-hidden", text: "The account's most engaging posts of the range" }),
    h("thead", {}, head), h("tbody", {}, rows)));
}

async function load(detail = null) {
  const range = pageRange(detail);
  const key = `${range.from}|${range.to}`;
  if (key === shown) return;
  shown = key;
  if (pending) pending.abort();
  const controller = new AbortController();
  pending = controller;
  box.setAttribute("aria-busy", "true");
  const params = { platform, handle, ordering: "-engagement", per_page: TOP, since: range.from || "1970-01-01", until: range.to };
  try {
    const page = await getJSON("/api/posts", params, { signal: controller.signal });
    render(page, range);
    panel.dataset.since = range.from || "";
    panel.dataset.until = range.to || "";
  } catch (error) {
    if (error.name === "AbortError") return;
    shown = "";
    showError(box, { what: "the top posts", error, retry: () => load(detail) });
  } finally {
    if (pending === controller) pending = null;
  }
  box.setAttribute("aria-busy", "false");
}

async function start() {
  try {
    const page = await getJSON("/api/accounts", { platform, handle, per_page: 1 });
    const account = page.data[0];
    if (!account) {
      panel.hidden = true; // the account page says there is no such account
      return;
    }
    latestDay = (account.latest && account.latest.date) || null;
  } catch {
    // The range then ends today; the account's own section reports the failure.
  }
  await load();
}

document.addEventListener("socialmetrics:range", (event) => load(event.detail || {}));

start();
