// Dialogs instead of the browser's prompt() and confirm(): real <dialog> elements, modal,
// labelled, in the page's language, that keep focus inside while open and give it back
// to what opened them. Each returns a promise of the answer (null: cancelled).

import { t } from "./i18n.js";
import { field, h } from "./ui.js";

// `body(dialog)` builds the inside; `accept()` (on submit) returns the value to resolve
// with, or throws to keep the dialog open (it shows the error itself).
function open({ title, body, confirmLabel, danger = false, accept }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const error = h("p.form-error", { role: "alert" });
    const id = `dialog-${Math.random().toString(36).slice(2)}`;
    const submit = h(danger ? "button.danger" : "button.primary", { type: "submit" }, confirmLabel);
    const dialog = h("dialog.dialog", { "aria-labelledby": id });
    let answer = null;
    const form = h(
      "form",
      {
        method: "dialog",
        onsubmit: async (e) => {
          e.preventDefault();
          submit.disabled = true;
          try {
            answer = await accept(error);
            if (answer !== undefined) dialog.close();
          } catch {
            /* accept() said why, in `error` */
          } finally {
            submit.disabled = false;
          }
        },
      },
      h("h2", { id }, title),
      body(dialog),
      error,
      h("div.actions", {}, h("button", { type: "button", onclick: () => dialog.close() }, t("cancel")), submit),
    );
    dialog.append(form);
    show(dialog, opener, () => resolve(answer));
  });
}

// Open `dialog` modally; once closed it goes, focus returns to `opener`, `closed()` runs.
function show(dialog, opener, closed) {
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (opener && opener.isConnected) opener.focus();
    closed();
  });
  document.body.append(dialog);
  dialog.showModal();
}

// Yes or no: resolves with true, or null.
export function confirmDialog({ title, message, confirmLabel, danger = true }) {
  return open({ title, confirmLabel, danger, body: () => h("p", {}, message), accept: () => true });
}

// Yes or no, with a checkbox `option`: resolves with whether it was ticked, or null.
export function confirmWithOption({ title, message, option, confirmLabel, danger = true }) {
  const box = h("input", { type: "checkbox", name: "option" });
  const body = () => h("div", {}, h("p", {}, message), h("label.check", {}, box, option));
  return open({ title, confirmLabel, danger, body, accept: () => box.checked });
}

// A text: resolves with it (trimmed, not empty), or null.
export function promptDialog({ title, label, value = "", confirmLabel = t("save"), maxlength = 200 }) {
  const input = h("input", { name: "dialog-value", value, required: true, maxlength, autocomplete: "off" });
  return open({
    title,
    confirmLabel,
    body: () => {
      setTimeout(() => input.select());
      return field(label, input);
    },
    accept: () => input.value.trim() || null,
  });
}

// One setting, which may be left empty, saved by `save(value)`: the dialog stays open,
// saying why, while it is refused (`save` returns a reason, or null once saved).
export function settingDialog({ title, label, help, value = "", save, maxlength = 200 }) {
  const input = h("input", { name: "dialog-setting", value, maxlength, autocomplete: "off" });
  return open({
    title,
    confirmLabel: t("save"),
    body: () => {
      setTimeout(() => input.select());
      return field(label, input, help);
    },
    accept: async (error) => {
      const refused = await save(input.value.trim());
      if (!refused) return true;
      error.replaceChildren(refused);
      input.focus();
      throw new Error("refused");
    },
  });
}

// A longer text (a correction of an answer): resolves with it (trimmed, not empty), or null.
export function textDialog({ title, label, help, confirmLabel = t("save"), maxlength = 4000 }) {
  const area = h("textarea", { name: "dialog-text", rows: 4, required: true, maxlength });
  return open({
    title,
    confirmLabel,
    body: () => {
      setTimeout(() => area.focus());
      return field(label, area, help);
    },
    accept: () => area.value.trim() || null,
  });
}

// A password for a file, tried by `tryIt(password)`: the dialog stays open, saying why,
// while it is refused (`tryIt` returns a reason to show again, or null when it worked).
export function passwordDialog({ title, message, tryIt }) {
  const input = h("input", { name: "file-password", type: "password", required: true, autocomplete: "off" });
  return open({
    title,
    confirmLabel: t("unlock"),
    body: () => {
      setTimeout(() => input.focus());
      return h("div", {}, h("p", {}, message), field(t("password"), input, t("filePasswordHelp")));
    },
    accept: async (error) => {
      const refused = await tryIt(input.value);
      input.value = "";
      if (!refused) return true;
      error.replaceChildren(refused);
      input.focus();
      throw new Error("refused");
    },
  });
}

// Information only (the keyboard shortcuts): one button, Close.
export function infoDialog({ title, content }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const id = `dialog-${Math.random().toString(36).slice(2)}`;
    const close = h("button.primary", { type: "button", onclick: () => dialog.close() }, t("close"));
    const dialog = h("dialog.dialog", { "aria-labelledby": id }, h("h2", { id }, title), content, h("div.actions", {}, close));
    show(dialog, opener, () => resolve(null));
    close.focus();
  });
}

export const dialogOpen = () => Boolean(document.querySelector("dialog[open]"));
