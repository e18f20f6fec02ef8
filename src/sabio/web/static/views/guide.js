// A knowledge base's "Guide and notes" tab: its instructions and style (an instruction, a
// glossary, example answers; PUT /kbs/{id}/guide), which every answer the model writes over
// it follows, and what its users taught it: the corrections kept as notes (cited first by
// later answers; edited, approved by an admin when review is on, removed) and the pinned
// answers, and the judged set they make with its scores (views/judged.js). Who may only read sees them without the buttons that change them.

import { api } from "../api.js";
import { confirmDialog, textDialog } from "../dialogs.js";
import { report } from "../errors.js";
import { formatDate, t } from "../i18n.js";
import { canWrite, isAdmin } from "../store.js";
import { field, h, toast } from "../ui.js";
import { judgedSection } from "./judged.js";

const base = (kb) => `/kbs/${encodeURIComponent(kb.id)}`;

export async function guideTab(kb) {
  const [guide, notes, pins, judged] = await Promise.all([
    api("GET", `${base(kb)}/guide`),
    api("GET", `${base(kb)}/notes`),
    api("GET", `${base(kb)}/notes?pinned=true`),
    judgedSection(kb),
  ]);
  const element = h("div.guide-tab", {}, guideForm(kb, guide), h("h3", {}, t("notesHeading")), noteList(kb, notes, false), h("h3", {}, t("pinsHeading")), noteList(kb, pins, true), judged);
  return { element, refresh: async () => {} };
}

function guideForm(kb, guide) {
  const writable = canWrite(kb);
  const instruction = h("textarea", { name: "instruction", rows: 3, maxlength: 4000, disabled: !writable }, guide.instruction);
  const glossary = h("textarea", { name: "glossary", rows: 3, disabled: !writable }, guide.glossary.map((g) => `${g.term} = ${g.wording}`).join("\n"));
  const examples = h("textarea", { name: "examples", rows: 3, disabled: !writable }, guide.examples.map((e) => `${e.question} => ${e.answer}`).join("\n"));
  const pairs = (text, sep, a, b) =>
    text.value.split("\n").filter((line) => line.trim()).map((line) => {
      const at = line.indexOf(sep);
      return at < 0 ? { [a]: line.trim(), [b]: "" } : { [a]: line.slice(0, at).trim(), [b]: line.slice(at + sep.length).trim() };
    });
  const save = async (e) => {
    e.preventDefault();
    try {
      await api("PUT", `${base(kb)}/guide`, {
        instruction: instruction.value.trim(),
        glossary: pairs(glossary, "=", "term", "wording"),
        examples: pairs(examples, "=>", "question", "answer"),
      });
      toast(t("guideSaved"), "info");
    } catch (err) {
      report(err);
    }
  };
  return h(
    "form.guide-form",
    { onsubmit: save },
    h("h3", {}, t("guideHeading")),
    h("p.muted", {}, t("guideHelp")),
    field(t("guideInstruction"), instruction, t("guideInstructionHelp")),
    field(t("guideGlossary"), glossary, t("guideGlossaryHelp")),
    field(t("guideExamples"), examples, t("guideExamplesHelp")),
    writable ? h("div.actions", {}, h("button.primary", { type: "submit" }, t("save"))) : null,
  );
}

function noteList(kb, notes, pinned) {
  const list = h("ul.note-list");
  const draw = (items) => {
    list.replaceChildren(...(items.length ? items.map((n) => noteItem(kb, n, pinned, () => draw(items.filter((x) => x.id !== n.id)))) : [h("li.muted", {}, t(pinned ? "noPins" : "noNotes"))]));
  };
  draw(notes);
  return list;
}

function noteItem(kb, note, pinned, gone) {
  const text = h("p.note-text", {}, pinned ? note.answer : note.correction);
  const who = `${note.author || t("someone")}, ${formatDate(note.updated_at)}`;
  const status = note.status === "pending" ? h("span.badge.pending", {}, t("notePending")) : null;
  const actions = h("div.actions");
  if (canWrite(kb) && !pinned) {
    actions.append(h("button.small", { type: "button", onclick: () => edit(kb, note, text) }, t("edit")));
  }
  if (isAdmin() && note.status === "pending") {
    actions.append(h("button.small", { type: "button", onclick: () => approve(kb, note, status) }, t("approve")));
  }
  if (canWrite(kb)) actions.append(h("button.small.danger", { type: "button", onclick: () => remove(kb, note, gone) }, t("remove")));
  return h("li.note", {}, h("p.note-question", {}, note.question), text, h("p.muted", {}, who, " ", status), actions);
}

async function edit(kb, note, text) {
  const correction = await textDialog({ title: t("editNote"), label: t("correctLabel"), help: t("correctHelp"), confirmLabel: t("save") });
  if (!correction) return;
  try {
    const saved = await api("PATCH", `${base(kb)}/notes/${note.id}`, { correction });
    text.textContent = saved.correction;
  } catch (err) {
    report(err);
  }
}

async function approve(kb, note, badge) {
  try {
    await api("PATCH", `${base(kb)}/notes/${note.id}`, { status: "active" });
    badge?.remove();
  } catch (err) {
    report(err);
  }
}

async function remove(kb, note, gone) {
  if (!(await confirmDialog({ title: t("removeNote"), message: note.question, confirmLabel: t("remove") }))) return;
  try {
    await api("DELETE", `${base(kb)}/notes/${note.id}`);
    gone();
  } catch (err) {
    report(err);
  }
}
