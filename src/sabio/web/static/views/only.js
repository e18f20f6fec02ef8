// "Only these documents": the chat's picker of the documents its answers may use. A
// button in the chat box opens a list of the knowledge base's searchable documents, with
// a box to find one by name; the ticked ones are sent with each question as `documents`
// (their ids, see docs/api.md, "Filters") and shown above the box, with a button that
// goes back to all of them. A question asked so, and an answer made so, say it under
// their text ("Only in: …"), also after the page is drawn again (kept for the tab's
// session, as each chat's choice: the server does not store a message's filter).

import { api } from "../api.js";
import { report } from "../errors.js";
import { t } from "../i18n.js";
import { $, h, icon } from "../ui.js";

const TAGS = "sabio.only"; // message id -> the names it was restricted to
const SHOWN = 200; // checkboxes at most: a large knowledge base is found by name
const CHOICES = "sabio.only.choices"; // chat key ("new" or its id) -> {kb, docs: [[id, name]]}

const stored = (name) => {
  try {
    return JSON.parse(sessionStorage.getItem(name) || "{}");
  } catch {
    return {};
  }
};
const tags = () => stored(TAGS);
const chosen = new Map(Object.entries(stored(CHOICES)).map(([key, c]) => [key, { kb: c.kb, docs: new Map(c.docs) }]));

function saveChoices() {
  const plain = Object.fromEntries([...chosen].map(([key, c]) => [key, { kb: c.kb, docs: [...c.docs] }]));
  sessionStorage.setItem(CHOICES, JSON.stringify(plain));
}

// The names a saved message was restricted to (null: it was not).
export function restrictedTo(messageId) {
  return tags()[messageId] || null;
}

export function tagMessage(messageId, names) {
  const all = tags();
  all[messageId] = names;
  sessionStorage.setItem(TAGS, JSON.stringify(all));
}

// The line under a question or an answer that was restricted.
export function restrictedNote(names, key = "onlyIn") {
  return names && names.length ? h("p.only-note", {}, icon("file"), t(key, { names: names.join(", ") })) : null;
}

// The selection of chat `key` over knowledge base `kb` (emptied when the base changed).
function selection(key, kb) {
  let current = chosen.get(key);
  if (!current || current.kb !== kb.id) {
    current = { kb: kb.id, docs: new Map() };
    chosen.set(key, current);
    saveChoices();
  }
  return current;
}

// A new chat's selection becomes the chat's once it exists.
export function adoptSelection(chatId) {
  if (chosen.has("new")) chosen.set(String(chatId), chosen.get("new"));
  chosen.delete("new");
  saveChoices();
}

export function forgetNewSelection() {
  chosen.delete("new");
  saveChoices();
}

// What to send with a question: {documents: [ids], names: [names]}, or null for all.
export function chosenDocuments(key, kb) {
  if (!kb) return null;
  const docs = selection(key, kb).docs;
  return docs.size ? { documents: [...docs.keys()].map(String), names: [...docs.values()] } : null;
}

// The toggle button (into `slot`) and the panel and the chosen line (into `box`, the
// chat box) for the chat `keyOf()` names (a new chat's key changes when it is made)
// over `kb`; nothing without a knowledge base.
export function drawPicker(slot, box, keyOf, kb) {
  const panel = $("#only-panel", box);
  const line = $("#only-chosen", box);
  if (!kb) {
    slot.replaceChildren();
    panel.replaceChildren();
    panel.hidden = true;
    line.replaceChildren();
    return;
  }
  const current = selection(keyOf(), kb);
  const count = current.docs.size;
  const toggle = h(
    "button.icon-button.only-toggle",
    {
      id: "only-toggle",
      type: "button",
      title: t("onlyDocuments"),
      "aria-expanded": String(!panel.hidden),
      "aria-controls": "only-panel",
      onclick: () => (panel.hidden ? open() : close()),
    },
    icon("file"),
    h("span.visually-hidden", {}, count ? `${t("onlyDocuments")}: ` : t("onlyDocuments")),
    count ? h("span.only-count", {}, String(count)) : null, // its name: "Only these documents: 1"
  );
  slot.replaceChildren(toggle);
  const redraw = () => (saveChoices(), drawPicker(slot, box, keyOf, kb));
  const clearAll = () => {
    current.docs.clear();
    redraw();
    if (!panel.hidden) fill();
  };
  line.replaceChildren(
    count
      ? h(
          "p.only-chosen",
          {},
          icon("file"),
          h("span", {}, t("onlyIn", { names: [...current.docs.values()].join(", ") })),
          h("button.small", { type: "button", onclick: () => (clearAll(), $("#question")?.focus()) }, t("onlyDocumentsAll")),
        )
      : "", // replaceChildren(null) would show the word "null"
  );

  async function fill() {
    let documents;
    try {
      documents = (await api("GET", `/kbs/${encodeURIComponent(kb.id)}/documents`)).filter((d) => d.status === "indexed");
    } catch (err) {
      report(err);
      return;
    }
    const find = h("input", { type: "search", id: "only-find", autocomplete: "off" });
    const list = h("ul.only-list", {});
    const empty = h("p.muted.small", { hidden: true }, t("onlyDocumentsNone"));
    const more = h("p.muted.small", { hidden: true, role: "status" });
    const draw = () => {
      const wanted = find.value.trim().toLowerCase();
      const shown = documents.filter((d) => !wanted || `${d.name} ${d.title}`.toLowerCase().includes(wanted));
      list.replaceChildren(
        ...shown.slice(0, SHOWN).map((d) =>
          h(
            "li",
            {},
            h(
              "label",
              {},
              h("input", {
                type: "checkbox",
                value: String(d.id),
                checked: current.docs.has(d.id),
                onchange: (e) => {
                  if (e.target.checked) current.docs.set(d.id, d.name);
                  else current.docs.delete(d.id);
                  redraw();
                },
              }),
              h("span", {}, d.name),
              d.title && d.title !== d.name && !d.name.startsWith(d.title) ? h("span.muted.small", {}, d.title) : null,
            ),
          ),
        ),
      );
      empty.hidden = shown.length > 0;
      more.hidden = shown.length <= SHOWN;
      more.textContent = more.hidden ? "" : t("onlyDocumentsMore", { n: SHOWN, m: shown.length });
    };
    find.addEventListener("input", draw);
    panel.replaceChildren(
      h(
        "fieldset",
        {},
        h("legend", {}, t("onlyDocuments")),
        h("p.muted.small", { id: "only-help" }, t("onlyDocumentsHelp")),
        h("label.only-find", { for: "only-find" }, t("onlyDocumentsFind")),
        find,
        list,
        empty,
        more,
        h("div.actions", {}, h("button", { type: "button", onclick: clearAll }, t("onlyDocumentsAll")), h("button.primary", { type: "button", onclick: () => close() }, t("onlyDocumentsDone"))),
      ),
    );
    find.setAttribute("aria-describedby", "only-help");
    draw();
    find.focus();
  }

  function open() {
    panel.hidden = false;
    toggle.setAttribute("aria-expanded", "true");
    fill();
  }

  function close() {
    panel.hidden = true;
    panel.replaceChildren();
    redraw();
    $("#only-toggle", box)?.focus();
  }

  panel.onkeydown = (e) => {
    if (e.key === "Escape" && !panel.hidden) {
      e.preventDefault();
      e.stopPropagation();
      close();
    }
  };
}
