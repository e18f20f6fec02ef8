// Whole-document tasks on a knowledge base's documents (POST /kbs/{id}/tasks, run by the
// server's worker as jobs): the actions on the documents selected in the table
// (Summarize, Translate, Extract, Compare), each task's progress with Cancel, and its
// result: a summary cited by page (each [12] a link to the original at that page), a
// translation, the fields extracted with their pages, a comparison; downloads as
// Markdown, Word, text and JSON. Tasks are followed by polling while any is unfinished.

import { API, api } from "../api.js";
import { report, showError } from "../errors.js";
import { formatDate, formatRoute, getLang, t } from "../i18n.js";
import { escapeHtml, renderMarkdown } from "../markdown.js";
import { h, icon } from "../ui.js";

const POLL_MS = 1000;
const UNFINISHED = new Set(["queued", "running"]);
const DOWNLOADS = [["markdown", "Markdown"], ["docx", "Word"], ["text", "Text"], ["json", "JSON"]];

// The panel for knowledge base `kb`: {element, select(docs), leave}. `select` is told the
// documents ({id, name}) checked in the table.
export function tasksPanel(kb) {
  const base = `/kbs/${encodeURIComponent(kb.id)}/tasks`;
  let selected = [];
  let names = new Map();
  let timer = null;
  let gone = false;
  const shown = new Set(); // tasks whose result is open
  const error = h("div.form-error", { role: "alert" });
  const note = h("span.muted.task-selection", { "aria-live": "polite" });
  const list = h("ul.task-list", { "aria-label": t("tasks.list") });
  const choice = (name, values) => h("select", { name, "aria-label": t(`tasks.${name}`) }, values.map(([value, label]) => h("option", { value }, label)));
  const length = choice("length", ["short", "page", "detailed"].map((v) => [v, t(`tasks.length.${v}`)]));
  length.value = "page";
  const to = choice("to", [["en", t("tasks.to.en")], ["es", t("tasks.to.es")]]);
  to.value = getLang() === "en" ? "es" : "en";
  const schema = choice("schema", ["invoice", "contract", "cv", "minutes"].map((v) => [v, t(`tasks.schema.${v}`)]));
  const action = (kind, glyph, extra) => h("div.task-action", {}, h("button", { type: "button", dataset: { task: kind }, onclick: () => start(kind, extra) }, icon(glyph), t(`tasks.${kind}`)), extra);
  const buttons = h("div.task-actions", {}, action("summarize", "file", length), action("translate", "globe", to), action("extract", "copy", schema), action("compare", "right", null));

  function describe() {
    note.textContent = selected.length ? t("tasks.selected", { n: selected.length, names: selected.map((d) => d.name).join(", ") }) : t("tasks.help");
    for (const button of buttons.querySelectorAll("button[data-task]")) {
      const kind = button.dataset.task;
      button.disabled = kind === "compare" ? selected.length !== 2 : kind !== "extract" && !selected.length;
    }
  }

  async function start(kind, extra) {
    error.replaceChildren();
    const options = extra ? { [extra.name]: extra.value } : {};
    try {
      const task = await api("POST", base, { kind, documents: selected.map((d) => d.id), options });
      shown.add(task.id);
      await refresh();
    } catch (err) {
      showError(error, err);
    }
  }

  async function refresh() {
    clearTimeout(timer);
    const tasks = await api("GET", base);
    if (gone) return;
    list.replaceChildren(...(tasks.length ? tasks.map((task) => taskItem(task)) : [h("li.muted.task-none", {}, t("tasks.none"))]));
    for (const task of tasks) if (task.status === "done" && shown.has(task.id)) showResult(task, list.querySelector(`[data-task-id="${task.id}"] .task-result`));
    if (tasks.some((task) => UNFINISHED.has(task.status))) timer = setTimeout(() => refresh().catch(report), POLL_MS);
  }

  function taskItem(task) {
    const documents = task.documents.length ? task.documents.map((id) => names.get(id) || `#${id}`).join(task.kind === "compare" ? " → " : ", ") : t("tasks.allDocuments");
    const running = UNFINISHED.has(task.status);
    // the parts done of a known total, or a bar that only says it is working
    const progress = task.status !== "running" ? null : task.total ? h("progress", { max: task.total, value: task.done, "aria-label": t("tasks.part", task) }) : h("progress", { "aria-label": t("tasks.status.running") });
    const message = task.status === "running" && task.total ? t("tasks.part", task) : task.status === "failed" ? task.error : "";
    const result = h("div.task-result");
    const toggle = () => {
      if (shown.has(task.id)) {
        shown.delete(task.id);
        result.replaceChildren();
      } else {
        shown.add(task.id);
        showResult(task, result);
      }
      toggleButton.setAttribute("aria-expanded", String(shown.has(task.id)));
      toggleButton.textContent = t(shown.has(task.id) ? "tasks.hide" : "tasks.show");
    };
    const toggleButton = task.status === "done" ? h("button.small", { type: "button", "aria-expanded": String(shown.has(task.id)), onclick: toggle }, t(shown.has(task.id) ? "tasks.hide" : "tasks.show")) : null;
    return h(
      "li.task",
      { dataset: { taskId: task.id, status: task.status } },
      h(
        "div.task-head",
        {},
        h("strong", {}, t(`tasks.kind.${task.kind}`)),
        h("span.task-documents", {}, documents),
        h(`span.badge.task-status.${task.status}`, {}, t(`tasks.status.${task.status}`)),
        h("span.muted.small", {}, formatDate(task.created_at)),
      ),
      progress,
      message ? h(task.status === "failed" ? "div.reason" : "div.muted.small.task-message", {}, message) : null,
      h(
        "div.task-buttons",
        {},
        running ? h("button.small", { type: "button", onclick: () => cancel(task) }, icon("stop"), t("tasks.cancel")) : null,
        toggleButton,
        task.status === "done" ? DOWNLOADS.map(([format, label]) => h("a.button.small", { href: `${API}${base}/${task.id}/result?format=${format}&language=${getLang()}`, download: "" }, icon("download"), label)) : null,
      ),
      result,
    );
  }

  async function cancel(task) {
    try {
      await api("POST", `${base}/${task.id}/cancel`);
      await refresh();
    } catch (err) {
      report(err);
    }
  }

  async function showResult(task, into) {
    if (!into) return;
    try {
      const result = await api("GET", `${base}/${task.id}/result`);
      into.replaceChildren(...result.items.map((item) => RESULTS[result.kind](item)));
    } catch (err) {
      showError(into, err);
    }
  }

  describe();
  refresh().catch(report);
  const element = h("section.tasks", { "aria-labelledby": "tasks-title" }, h("h3", { id: "tasks-title" }, t("tasks.title")), note, buttons, error, list);
  return {
    element,
    select(docs) {
      selected = docs;
      describe();
    },
    setDocuments(documents) {
      names = new Map(documents.map((d) => [d.id, d.name]));
    },
    leave() {
      gone = true;
      clearTimeout(timer);
    },
  };
}

// "[12]" in a summary: page 12, linked to the original (a PDF opened at that page).
function pageChip(item, page) {
  const label = escapeHtml(t("tasks.page", { page }));
  if (!item.file_url) return `<span class="page-cite">${label}</span>`;
  const target = /\.pdf$/i.test(item.document) ? `${item.file_url}#page=${page}` : item.file_url;
  return `<a class="page-cite" href="${escapeHtml(target)}" target="_blank" rel="noopener">${label}</a>`;
}

function markdownBlock(text, cite = null) {
  const block = h("div.markdown");
  block.innerHTML = renderMarkdown(text, cite); // markdown-it with raw HTML off: escaped
  return block;
}

function titled(item, ...body) {
  const name = item.file_url ? h("a", { href: item.file_url, target: "_blank", rel: "noopener" }, item.document) : item.document;
  return h("article.task-item", {}, h("h4", {}, item.title || item.document, item.title && item.title !== item.document ? h("span.muted.small", {}, " · ", name) : null), ...body);
}

// How the task read its document: whole, or map-reduce, by counted tokens (a result kept
// before routes were, none).
function routeLine(item) {
  const route = formatRoute(item.route);
  return route ? h("p.muted.small.task-route", {}, t("tasks.route", { route })) : null;
}

const RESULTS = {
  summarize(item) {
    const unsupported = item.claims.filter((c) => !c.supported);
    return titled(
      item,
      markdownBlock(item.summary, (page) => pageChip(item, page)),
      unsupported.length ? h("div.status-help.task-unsupported", {}, h("strong", {}, t("tasks.unsupported")), h("ul", {}, unsupported.map((c) => h("li", {}, c.text)))) : null,
      routeLine(item),
    );
  },
  translate(item) {
    const text = item.markdown.replace(/^<!-- page (\d+) -->$/gm, (_, n) => `*${t("tasks.page", { page: n })}*`);
    return titled(item, markdownBlock(text), item.problems.length ? h("div.status-help", {}, h("strong", {}, t("tasks.check")), h("ul", {}, item.problems.map((p) => h("li", {}, p)))) : null, routeLine(item));
  },
  extract(item) {
    const rows = flat(item.data || {});
    const table = h(
      "div.table",
      {},
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, h("th", {}, t("tasks.field")), h("th", {}, t("tasks.value")), h("th.num", {}, t("tasks.pageColumn")))),
        h("tbody", {}, rows.map(([path, value]) => h("tr", { dataset: { field: path } }, h("td", {}, path), h("td", {}, value === null ? "—" : String(value)), h("td.num", {}, item.pages[path] ?? "")))),
      ),
    );
    return titled(
      item,
      table,
      item.valid ? null : h("div.reason", {}, t("tasks.invalid", { error: item.error })),
      item.unlocated.length ? h("div.status-help", {}, t("tasks.unlocated", { fields: item.unlocated.join(", ") })) : null,
      routeLine(item),
    );
  },
  compare(item) {
    const page = (unit) => (unit && unit.page != null ? t("tasks.page", { page: unit.page }) : "—");
    return h(
      "article.task-item",
      {},
      h("h4", {}, `${item.old.document} → ${item.new.document}`),
      h("p.muted", {}, t("tasks.changes", { n: item.changes.length })),
      h(
        "ul.task-changes",
        {},
        item.changes.map((c) =>
          h(
            "li",
            { dataset: { kind: c.kind } },
            h(`span.badge.change.${c.kind}`, {}, t(`tasks.change.${c.kind}`)),
            h("span.muted.small", {}, ` ${page(c.old)} → ${page(c.new)}${c.section ? ` · ${c.section}` : ""} `),
            c.kind === "changed" ? [h("del", {}, c.removed_words), " → ", h("ins", {}, c.added_words)] : (c.new || c.old).text,
          ),
        ),
      ),
    );
  },
};

// An extracted object's values by path ("parties/0/name"), as their pages are named.
function flat(value, path = "") {
  if (value && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
    return entries.flatMap(([key, v]) => flat(v, path ? `${path}/${key}` : key));
  }
  return [[path, value]];
}
