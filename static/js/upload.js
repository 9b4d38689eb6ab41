// Staff: choosing a CSV previews it (POST /upload with dry_run=true: what the import would create,
// update and refuse, the new accounts listed apart with the existing accounts a person may have meant),
// and Upload then imports it and shows the report. Both offer the refused lines as a CSV file. The
// other pages fetch with cache "no-store", so they show the new data at once.
import { accountUrl, formatExact, h, platformLabel, postForm, spinner } from "./api.js";

const form = document.getElementById("upload-form");
const fileInput = document.getElementById("upload-file");
const submit = document.getElementById("upload-submit");
const result = document.getElementById("upload-result");

let previewRequest = null;
let refusedUrl = null;

function count(label, value, key) {
  return h("div", { class: `count count-${key}`, dataset: { key, value: String(value ?? 0) } },
    h("dt", { text: label }), h("dd", { text: formatExact(value ?? 0) }));
}

function fileForm(file) {
  const data = new FormData();
  data.append("file", file, file.name);
  return data;
}

// The refused lines as a file to download: the report's CSV, kept as a blob while it is shown.
function refusedLink(report, fileName) {
  if (refusedUrl) URL.revokeObjectURL(refusedUrl);
  refusedUrl = null;
  if (!report.refused_csv) return null;
  refusedUrl = URL.createObjectURL(new Blob([report.refused_csv], { type: "text/csv;charset=utf-8" }));
  const name = `${fileName.replace(/\.csv$/i, "")}-refused.csv`;
  return h("a", { class: "btn btn-small", id: "refused-download", href: refusedUrl, download: name },
    h("span", { "aria-hidden": "true", text: "⤓ " }), "Download the refused lines (CSV)");
}

function refusedTable(report, { id, title }) {
  const errors = report.errors || [];
  if (!errors.length) return [];
  const listed = `${formatExact(errors.length)}${report.skipped > errors.length ? ` of ${formatExact(report.skipped)}` : ""}`;
  return [
    h("h3", { text: `${title} (${listed})` }),
    h("div", { class: "table-wrap" }, h("table", { class: "table skipped-table", id },
      h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "num", text: "Line" }), h("th", { scope: "col", text: "Column" }), h("th", { scope: "col", text: "Reason" }))),
      h("tbody", {}, errors.map((e) => h("tr", {},
        h("td", { class: "num", text: String(e.line) }),
        h("td", { text: e.column || "—" }),
        h("td", { text: e.message })))))),
  ];
}

function accountName(platform, handle) {
  return `${platformLabel(platform)} @${handle}`;
}

// The accounts the upload creates, each with the existing accounts a person may have meant.
function newAccounts(report, { preview }) {
  const accounts = report.new_accounts || [];
  if (!accounts.length) return [];
  const total = report.new_account_count ?? accounts.length;
  const doubtful = accounts.filter((a) => a.suggestions.length).length;
  const intro = preview
    ? `The upload would create ${formatExact(total)} new ${total === 1 ? "account" : "accounts"}.`
    : `${formatExact(total)} new ${total === 1 ? "account was" : "accounts were"} created.`;
  return [
    h("h3", { text: `New accounts (${formatExact(total)})` }),
    h("p", { class: "meta" }, intro,
      doubtful ? ` ${formatExact(doubtful)} ${doubtful === 1 ? "looks" : "look"} like an account that exists already: check the handle before you upload.` : ""),
    h("div", { class: "table-wrap" }, h("table", { class: "table new-accounts-table", id: preview ? "preview-new-accounts" : "new-accounts" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col", class: "num", text: "Line" }), h("th", { scope: "col", text: "Account" }),
        h("th", { scope: "col", text: "Organization" }), h("th", { scope: "col", text: "Did you mean" }))),
      h("tbody", {}, accounts.map((a) => h("tr", { class: a.suggestions.length ? "is-doubtful" : null, dataset: { key: `${a.platform}:${a.handle}` } },
        h("td", { class: "num", text: String(a.line) }),
        h("td", { text: accountName(a.platform, a.handle) }),
        h("td", { class: a.organization ? null : "muted", text: a.organization || "—" }),
        h("td", { class: "did-you-mean" }, a.suggestions.length
          ? a.suggestions.flatMap((s, i) => [i ? ", " : "", h("a", { href: accountUrl(s.platform, s.handle), text: accountName(s.platform, s.handle) })])
          : h("span", { class: "muted", text: "—" }))))))),
  ];
}

function renderPreview(report, fileName) {
  const counts = h("dl", { class: "counts" },
    count("Would create", report.created, "created"),
    count("Would update", report.updated, "updated"),
    count("Unchanged", report.unchanged, "unchanged"),
    count("Refused", report.skipped, "skipped"));
  const download = refusedLink(report, fileName);
  const what = report.kind === "accounts" ? "account list" : "snapshot history";
  const box = h("div", { class: "upload-preview", id: "upload-preview", dataset: { kind: report.kind } },
    h("div", { class: "alert alert-info", role: "status" },
      h("p", {}, h("strong", { text: `Preview of ${fileName} (${what}): ` }), "nothing has been written yet. ",
        "Select ", h("strong", { text: "Upload" }), " to import it, or choose another file.")),
    counts,
    ...newAccounts(report, { preview: true }),
    ...refusedTable(report, { id: "preview-refused", title: "Lines that would be refused" }),
    download ? h("p", {}, download) : null);
  result.replaceChildren(box);
}

function renderReport(report, fileName) {
  const what = report.kind === "accounts" ? "accounts" : "snapshots";
  const counts = h("dl", { class: "counts" },
    count("Created", report.created, "created"),
    count("Updated", report.updated, "updated"),
    count("Unchanged", report.unchanged, "unchanged"),
    count("Skipped", report.skipped, "skipped"));
  if (report.accounts_created) counts.append(count("New accounts", report.accounts_created, "accounts_created"));
  const download = refusedLink(report, fileName);
  const parts = [
    h("div", { class: `alert ${report.skipped ? "alert-warning" : "alert-success"}`, role: "status" },
      h("p", {}, h("strong", { text: `${fileName}: ` }), report.message || `Imported ${what}.`)),
    counts,
    ...newAccounts(report, { preview: false }),
    ...refusedTable(report, { id: "skipped-lines", title: "Skipped lines" }),
    download ? h("p", {}, download) : null,
  ];
  parts.push(h("p", { class: "next-steps" }, "See the result on the ", h("a", { href: "/", text: "overview" }),
    " or in the ", h("a", { href: "/grid/", text: "grid" }), "."));
  result.replaceChildren(h("div", { class: "upload-report", id: "upload-report" }, parts));
}

function refused(file, error, { preview }) {
  const box = h("div", { class: "alert alert-error", role: "alert" },
    h("p", {}, h("strong", { text: preview ? `${file.name} cannot be imported. ` : `Nothing was imported from ${file.name}. ` }), error.message));
  box.append(h("button", { type: "button", class: "btn btn-small", text: "Try again", onclick: () => (preview ? previewFile(file) : form.requestSubmit()) }));
  result.replaceChildren(box);
}

// Choosing a file previews it; Upload waits for the preview, so what it imports has been shown.
async function previewFile(file) {
  if (previewRequest) previewRequest.abort();
  const controller = new AbortController();
  previewRequest = controller;
  submit.disabled = true;
  result.replaceChildren(spinner(`Checking ${file.name}…`));
  try {
    const report = await postForm(`${form.action}?dry_run=true`, fileForm(file), { signal: controller.signal });
    if (previewRequest === controller) renderPreview(report, file.name);
  } catch (error) {
    if (error.name === "AbortError") return;
    if (previewRequest === controller) refused(file, error, { preview: true });
  } finally {
    if (previewRequest === controller) {
      previewRequest = null;
      submit.disabled = false;
    }
  }
}

fileInput.addEventListener("change", () => {
  const file = fileInput.files[0];
  if (file) previewFile(file);
  else result.replaceChildren();
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = fileInput.files[0];
  if (!file) {
    result.replaceChildren(h("div", { class: "alert alert-error", role: "alert" }, h("p", { text: "Choose a CSV file first." })));
    fileInput.focus();
    return;
  }
  if (previewRequest) previewRequest.abort();
  previewRequest = null;
  submit.disabled = true;
  result.replaceChildren(spinner(`Uploading ${file.name}…`));
  try {
    renderReport(await postForm(form.action, fileForm(file)), file.name);
  } catch (error) {
    refused(file, error, { preview: false });
  } finally {
    submit.disabled = false;
  }
});
