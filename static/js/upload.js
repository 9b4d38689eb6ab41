// Staff: send a CSV to POST /upload and show its report: created, updated, unchanged, and every
// skipped line with its reason. The other pages fetch with cache "no-store", so they show the new
// data at once.
import { formatExact, h, postForm, spinner } from "./api.js";

const form = document.getElementById("upload-form");
const fileInput = document.getElementById("upload-file");
const submit = document.getElementById("upload-submit");
const result = document.getElementById("upload-result");

function count(label, value, key) {
  return h("div", { class: `count count-${key}`, dataset: { key, value: String(value ?? 0) } },
    h("dt", { text: label }), h("dd", { text: formatExact(value ?? 0) }));
}

function renderReport(report, fileName) {
  const what = report.kind === "accounts" ? "accounts" : "snapshots";
  const counts = h("dl", { class: "counts" },
    count("Created", report.created, "created"),
    count("Updated", report.updated, "updated"),
    count("Unchanged", report.unchanged, "unchanged"),
    count("Skipped", report.skipped, "skipped"));
  if (report.accounts_created) counts.append(count("New accounts", report.accounts_created, "accounts_created"));
  const parts = [
    h("div", { class: `alert ${report.skipped ? "alert-warning" : "alert-success"}`, role: "status" },
      h("p", {}, h("strong", { text: `${fileName}: ` }), report.message || `Imported ${what}.`)),
    counts,
  ];
  const errors = report.errors || [];
  if (errors.length) {
    parts.push(h("h3", { text: `Skipped lines (${formatExact(errors.length)}${report.skipped > errors.length ? ` of ${formatExact(report.skipped)}` : ""})` }));
    parts.push(h("div", { class: "table-wrap" }, h("table", { class: "table skipped-table", id: "skipped-lines" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "num", text: "Line" }), h("th", { scope: "col", text: "Column" }), h("th", { scope: "col", text: "Reason" }))),
      h("tbody", {}, errors.map((e) => h("tr", {},
        h("td", { class: "num", text: String(e.line) }),
        h("td", { text: e.column || "—" }),
        h("td", { text: e.message })))))));
  }
  parts.push(h("p", { class: "next-steps" }, "See the result on the ", h("a", { href: "/", text: "overview" }),
    " or in the ", h("a", { href: "/grid/", text: "grid" }), "."));
  result.replaceChildren(h("div", { class: "upload-report", id: "upload-report" }, parts));
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = fileInput.files[0];
  if (!file) {
    result.replaceChildren(h("div", { class: "alert alert-error", role: "alert" }, h("p", { text: "Choose a CSV file first." })));
    fileInput.focus();
    return;
  }
  submit.disabled = true;
  result.replaceChildren(spinner(`Uploading ${file.name}…`));
  try {
    const data = new FormData();
    data.append("file", file, file.name);
    renderReport(await postForm(form.action, data), file.name);
  } catch (error) {
    const box = h("div", { class: "alert alert-error", role: "alert" },
      h("p", {}, h("strong", { text: `Nothing was imported from ${file.name}. ` }), error.message));
    box.append(h("button", { type: "button", class: "btn btn-small", text: "Try again", onclick: () => form.requestSubmit() }));
    result.replaceChildren(box);
  } finally {
    submit.disabled = false;
  }
});
