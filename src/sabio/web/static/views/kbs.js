// Knowledge bases: the list, a new one (admins; any name, "Informes año 2024"), and one
// knowledge base with its tabs: Documents (upload, remove, unlock an encrypted file),
// Sources, Guide and notes (views/guide.js), and Members (admins). Its counts follow the server as they change (server-sent
// events, GET /kbs/{id}/events); what a member may not do is not offered.

import { API, api } from "../api.js";
import { loadChats, loadKbs } from "../data.js";
import { confirmDialog, settingDialog } from "../dialogs.js";
import { describe, report, showError } from "../errors.js";
import { formatClock, formatDate, getLang, t } from "../i18n.js";
import { canWrite, isAdmin, set, state, watch } from "../store.js";
import { uploadQueue, unlockButton } from "../uploads.js";
import { confirmKbDeletion } from "./data.js";
import { h, header, icon, statusBadge, statusReason, toast } from "../ui.js";
import { membersTab } from "./accounts.js";
import { guideTab } from "./guide.js";
import { securityTab } from "./security.js";
import { sourcesView } from "./sources.js";
import { tasksPanel } from "./tasks.js";

const counts = (kb) => `${t("nDocuments", { n: kb.documents })} · ${t("nPassages", { n: kb.passages })}`;
const path = (kb) => `#/kbs/${encodeURIComponent(kb.id)}`;
const OCR_POLL_MS = 3000;

// The page into `main`: the list, and knowledge base `ref` (its id) open on `tab`
// (undefined: documents; "sources"; "members"). Returns {leave}.
export async function kbsView(main, ref, tab) {
  await loadKbs();
  const selected = ref ? state.kbs.find((kb) => kb.id === ref || kb.name === ref) : null;
  if (ref && !selected) {
    await api("GET", `/kbs/${encodeURIComponent(ref)}`); // says why: not found, or not yours
  }
  const list = h("div.kb-list");
  const drawList = () =>
    list.replaceChildren(
      ...(state.kbs.length
        ? state.kbs.map((kb) =>
            h(
              "a.kb-card",
              { href: path(kb), "aria-current": selected && kb.id === selected.id ? "page" : null, dataset: { kb: kb.id } },
              h("strong", {}, kb.name),
              h("span.kb-counts", {}, counts(kb)),
              kb.access === "read" ? h("span.badge.access", {}, t("access.readOnly")) : null,
            ),
          )
        : [h("p.muted", {}, isAdmin() ? t("noKbs") : t("noKbsMember"))]),
    );
  drawList();
  const unwatch = watch(["kbs"], drawList);
  const section = h("section.card", {}, h("h2", {}, t("knowledgeBases")), list, isAdmin() ? createForm() : null);
  const page = h("div.page", {}, section);
  main.replaceChildren(header(t("knowledgeBases")), page);
  if (!selected) return { leave: unwatch };
  const detail = await kbDetail(selected, tab);
  page.append(detail.element);
  return {
    leave: () => {
      unwatch();
      detail.leave();
    },
  };
}

function createForm() {
  const name = h("input", { id: "kb-name", name: "kb-name", required: true, maxlength: 64, placeholder: t("kbNamePlaceholder"), "aria-describedby": "kb-name-help", autocomplete: "off" });
  const error = h("div.form-error", { role: "alert" });
  return h(
    "form.kb-create",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        error.replaceChildren();
        try {
          const kb = await api("POST", "/kbs", { name: name.value.trim() });
          await loadKbs();
          location.hash = path(kb);
        } catch (err) {
          showError(error, err);
        }
      },
    },
    h("label.field", { for: "kb-name" }, h("span", {}, t("kbName"))),
    h("div.inline-form", {}, name, h("button.primary", { type: "submit" }, icon("plus"), t("create"))),
    h("small.muted", { id: "kb-name-help" }, t("kbNameHelp")),
    error,
  );
}

// Why a knowledge base's embedding model suits it (Sabio's own models), or "".
function modelWhy(model) {
  const key = `modelWhy.${String(model).replace(/\W/g, "_")}`;
  const text = t(key);
  return text === key ? "" : text;
}

// One knowledge base: its counts (live), what an admin may do with it, its tabs.
async function kbDetail(kb, tab) {
  const why = () => (modelWhy(kb.embedding_model) ? h("span.muted", {}, ` — ${modelWhy(kb.embedding_model)}`) : null);
  const countsLine = h("p.kb-counts", { "aria-live": "polite" }, `${counts(kb)} · ${kb.embedding_model}`, why());
  const alertBadge = h("span.badge.alerts", { hidden: true, title: t("alertsBadge") });
  let alerts = null; // unseen review alerts, as the live counts tell them
  const tabs = [["documents", undefined, "file", t("documents")], ["sources", "sources", "sync", t("sources")], ["guide", "guide", "edit", t("guideTab")], ["security", "security", "shield", t("security")]];
  if (state.auth.auth && isAdmin()) tabs.push(["members", "members", "users", t("members")]);
  const nav = h(
    "nav.tabs",
    { "aria-label": kb.name },
    tabs.map(([, sub, glyph, label]) => h("a.tab", { href: sub ? `${path(kb)}/${sub}` : path(kb), "aria-current": sub === tab ? "page" : null }, icon(glyph), label, sub === "security" ? alertBadge : null)),
  );
  let body;
  let refresh = async () => {};
  let stopBody = () => {};
  if (tab === "sources") {
    const view = await sourcesView(kb, { admin: isAdmin() });
    ({ element: body, refresh } = view);
  } else if (tab === "guide") {
    ({ element: body, refresh } = await guideTab(kb));
  } else if (tab === "security") {
    ({ element: body, refresh } = await securityTab(kb));
  } else if (tab === "members" && state.auth.auth && isAdmin()) {
    body = await membersTab(kb);
  } else {
    const docs = await documentsTab(kb);
    ({ element: body, refresh, leave: stopBody } = docs);
  }
  const live = liveCounts(kb, (fresh) => {
    countsLine.replaceChildren(`${counts(fresh)} · ${kb.embedding_model}`, why() || "");
    const unseen = fresh.alerts || 0;
    alertBadge.hidden = !unseen;
    alertBadge.textContent = String(unseen);
    if (alerts !== null && unseen > alerts) toast(t("newAlertsIn", { n: unseen - alerts, kb: kb.name }), "info");
    alerts = unseen;
    set({ kbs: state.kbs.map((k) => (k.id === kb.id ? { ...k, ...fresh } : k)) });
  }, () => refresh().catch(report));
  const actions = isAdmin()
    ? h(
        "div.actions",
        {},
        h("button.ocr-languages", { type: "button", onclick: () => ocrLanguages(kb), title: t("ocr.languagesHelp") }, icon("gear"), t("ocr.languages")),
        h("button", { type: "button", onclick: () => reindex(kb), title: t("reindexHelp") }, icon("refresh"), t("reindex")),
        h("button.danger", { type: "button", onclick: () => deleteKb(kb) }, icon("trash"), t("delete")),
      )
    : h("span.badge.access", {}, t(kb.access === "read" ? "access.readOnly" : "access.canWrite"));
  const element = h("section.card.kb-detail", { dataset: { kb: kb.id } }, h("div.section-head", {}, h("div", {}, h("h2", {}, kb.name), countsLine), actions), nav, body);
  return {
    element,
    leave: () => {
      live.close();
      stopBody();
    },
  };
}

// The server's events for `kb`: `counts` → fresh({documents, passages}), `changed` →
// changed(). The browser reconnects by itself when the stream ends.
function liveCounts(kb, fresh, changed) {
  const source = new EventSource(`${API}/kbs/${encodeURIComponent(kb.id)}/events`);
  source.addEventListener("counts", (e) => fresh(JSON.parse(e.data)));
  source.addEventListener("changed", () => changed());
  return source;
}

// The documents, the tasks on those selected (views/tasks.js) and the drop zone
// (writers): {element, refresh, leave}.
async function documentsTab(kb) {
  const docs = h("div.documents");
  const tasks = tasksPanel(kb);
  const selection = new Map(); // document id → {id, name}, kept across refreshes
  const selected = (doc, checked) => {
    if (checked) selection.set(doc.id, { id: doc.id, name: doc.name });
    else selection.delete(doc.id);
    tasks.select([...selection.values()]);
  };
  let again = null; // while OCR or a transcription reads a document in the background, the list is read again
  let left = false;
  const leave = () => {
    left = true;
    clearTimeout(again);
    tasks.leave();
  };
  const refresh = async () => {
    clearTimeout(again);
    const documents = await api("GET", `/kbs/${encodeURIComponent(kb.id)}/documents`);
    for (const id of selection.keys()) if (!documents.some((d) => d.id === id)) selection.delete(id);
    tasks.setDocuments(documents);
    tasks.select([...selection.values()]);
    docs.replaceChildren(documents.length ? tablesReportLink(kb) : "", documentTable(kb, documents, refresh, { selection, selected }));
    if (!left && documents.some((d) => (d.ocr && d.ocr.pending) || d.status === "transcribing")) again = setTimeout(() => refresh().catch(() => {}), OCR_POLL_MS);
  };
  await refresh();
  const parts = [docs, tasks.element];
  if (!canWrite(kb)) return { element: h("div.kb-documents", {}, h("p.muted.small", {}, t("readOnlyHelp")), ...parts), refresh, leave };
  const queue = uploadQueue(kb, { done: () => refresh().catch(report), unlocked: () => refresh().catch(report) });
  const fileInput = h("input", { type: "file", multiple: true, hidden: true, onchange: (e) => queue.enqueue(Array.from(e.target.files)) });
  const drop = h(
    "div.dropzone",
    {
      tabindex: 0,
      role: "button",
      "aria-describedby": "drop-help",
      onclick: () => fileInput.click(),
      onkeydown: (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          fileInput.click();
        }
      },
      ondragover: (e) => {
        e.preventDefault();
        e.currentTarget.classList.add("over");
      },
      ondragleave: (e) => e.currentTarget.classList.remove("over"),
      ondrop: (e) => {
        e.preventDefault();
        e.currentTarget.classList.remove("over");
        queue.enqueue(Array.from(e.dataTransfer.files));
      },
    },
    icon("upload"),
    h("strong", {}, t("dropTitle")),
    h("span.muted", { id: "drop-help" }, t("dropHelp")),
    fileInput,
  );
  return { element: h("div.kb-documents", {}, drop, queue.element, ...parts), refresh, leave };
}

// The report over the knowledge base's tables (computed on the server, no model), in a tab.
function tablesReportLink(kb) {
  const href = `${API}/kbs/${encodeURIComponent(kb.id)}/report?language=${getLang() === "es" ? "es" : "en"}`;
  return h("p.small.tables-report", {}, h("a", { href, target: "_blank", rel: "noopener" }, icon("file"), " ", t("tablesReport")));
}

// `choice`: the selection ({selection: Map of ids, selected(doc, checked)}) for tasks.
function documentTable(kb, documents, refresh, choice) {
  if (!documents.length) return h("p.muted", {}, canWrite(kb) ? t("noDocumentsYet") : t("noDocumentsReader"));
  const writer = canWrite(kb);
  return h(
    "div.table",
    { tabindex: 0, role: "region", "aria-label": t("documents") },
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h("tr", {}, h("th", {}, h("span.visually-hidden", {}, t("tasks.choose"))), h("th", {}, t("document")), h("th", {}, t("status")), h("th.num", {}, t("pages")), h("th.num", {}, t("passages")), h("th", {}, t("updated")), writer ? h("th", {}, h("span.visually-hidden", {}, t("actions"))) : null),
      ),
      h(
        "tbody",
        {},
        documents.map((d) =>
          h(
            "tr",
            { dataset: { status: d.status } },
            h("td", {}, d.status === "indexed" ? h("input", { type: "checkbox", checked: choice.selection.has(d.id), "aria-label": t("tasks.select", { name: d.name }), onchange: (e) => choice.selected(d, e.target.checked) }) : null),
            h("td", {}, d.file_url ? h("a", { href: d.file_url, target: "_blank", rel: "noopener" }, d.name) : d.name, d.title && d.title !== d.name ? h("div.muted.small", {}, d.title) : null),
            h("td", {}, statusBadge(d.status), ...(d.reason ? statusReason(d.status, d.reason) : []), ...ocrNotes(d.ocr), d.transcription ? h("div.muted.small.transcribing", { role: "status" }, t("transcribingAt", { done: formatClock(d.transcription.done), total: formatClock(d.transcription.total) })) : null, writer && d.status === "encrypted" ? unlockButton(kb, d, () => refresh().catch(report)) : null),
            h("td.num", {}, d.pages ?? ""),
            h("td.num", {}, d.passages),
            h("td.muted", {}, formatDate(d.updated_at)),
            writer
              ? h(
                  "td",
                  {},
                  h(
                    "button.icon-button.small",
                    {
                      type: "button",
                      "aria-label": `${t("remove")} ${d.name}`,
                      title: t("remove"),
                      onclick: async () => {
                        const sure = await confirmDialog({ title: t("removeDoc"), message: t("removeDocConfirm", { name: d.name }), confirmLabel: t("remove") });
                        if (!sure) return;
                        try {
                          await api("DELETE", `/kbs/${encodeURIComponent(kb.id)}/documents/${d.id}`);
                          await refresh();
                        } catch (err) {
                          report(err);
                        }
                      },
                    },
                    icon("trash"),
                  ),
                )
              : null,
          ),
        ),
      ),
    ),
  );
}

async function reindex(kb) {
  const sure = await confirmDialog({ title: t("reindex"), message: t("reindexConfirm", { kb: kb.name }), confirmLabel: t("reindex"), danger: false });
  if (!sure) return;
  toast(t("reindexing", { kb: kb.name }), "info");
  try {
    await api("POST", `/kbs/${encodeURIComponent(kb.id)}/reindex`);
    toast(t("reindexed", { kb: kb.name }), "info");
  } catch (err) {
    report(err);
  }
}

// The Tesseract packs its scans are read with (PATCH /kbs/{id}); a refused value is said
// in the dialog, which stays open, and nothing changes.
async function ocrLanguages(kb) {
  const saved = await settingDialog({
    title: `${t("ocr.languages")} — ${kb.name}`,
    label: t("ocr.languages"),
    help: t("ocr.languagesHelp"),
    value: kb.ocr_languages || "",
    save: async (value) => {
      try {
        kb.ocr_languages = (await api("PATCH", `/kbs/${encodeURIComponent(kb.id)}`, { ocr_languages: value })).ocr_languages;
        return null;
      } catch (err) {
        return describe(err).text;
      }
    },
  });
  if (saved) toast(t("ocr.languagesSaved", { kb: kb.name, languages: kb.ocr_languages || t("ocr.languagesAuto") }), "info");
}

async function deleteKb(kb) {
  const choice = await confirmKbDeletion(kb); // and whether to keep its chats
  if (!choice) return;
  try {
    await api("DELETE", `/kbs/${encodeURIComponent(kb.id)}${choice.keepChats ? "?keep_chats=true" : ""}`);
    await loadChats();
    await loadKbs();
    location.hash = "#/kbs";
  } catch (err) {
    report(err);
  }
}

// What OCR read of a document: its pages and confidence, those hard to read, those left.
function ocrNotes(ocr) {
  if (!ocr) return [];
  const pages = (list) => ({ n: list.length, pages: list.join(", ") });
  return [
    ocr.pages.length ? h("div.muted.small.ocr-read", {}, t("ocr.read", { ...pages(ocr.pages), confidence: Math.round(ocr.confidence ?? 0) })) : null,
    ocr.low_pages.length ? h("div.status-help.ocr-low", {}, t("ocr.low", pages(ocr.low_pages))) : null,
    ocr.missing_pages.length ? h("div.status-help.ocr-missing", { role: ocr.pending ? "status" : null }, ocrLeft(ocr, pages(ocr.missing_pages))) : null,
  ];
}

// The pages OCR has not read: being read ("page 3 of 12", while its job runs), or not.
function ocrLeft(ocr, missing) {
  if (!ocr.pending) return t("ocr.missing", missing);
  const p = ocr.progress;
  return p ? t("ocr.progress", { page: Math.min(p.done + 1, p.total), pages: p.total }) : t("ocr.pending", missing);
}
