// Keyboard shortcuts, and their list on "?" (or the keyboard button in the sidebar).
// Ctrl stands for ⌘ on a Mac. Esc first closes what is open (a dialog closes itself,
// then the source panel, the phone's menu), else stops the answer being made.

import { dialogOpen, infoDialog } from "./dialogs.js";
import { t } from "./i18n.js";
import { h, toast } from "./ui.js";
import { answering, closeSource, copyLastAnswer, copyLastCode, focusQuestion, stopAnswer } from "./views/chat.js";

const mac = /Mac|iPhone|iPad/.test(navigator.platform || "");
const CTRL = mac ? "⌘" : "Ctrl";

// [keys shown, what it does (an i18n key), test(event), action()]
const SHORTCUTS = [
  [[CTRL, "Shift", "O"], "shortcut.newChat", (e) => mod(e) && e.shiftKey && e.code === "KeyO", () => (location.hash = "#/new")],
  [["Shift", "Esc"], "shortcut.focus", (e) => e.shiftKey && e.key === "Escape", focusQuestion],
  [["Esc"], "shortcut.stop", (e) => e.key === "Escape" && !e.shiftKey, escape],
  [[CTRL, "Shift", "C"], "shortcut.copyAnswer", (e) => mod(e) && e.shiftKey && e.code === "KeyC", () => copyLastAnswer() || toast(t("nothingToCopy"), "info")],
  [[CTRL, "Shift", ";"], "shortcut.copyCode", (e) => mod(e) && e.shiftKey && e.code === "Semicolon", () => copyLastCode() || toast(t("nothingToCopy"), "info")],
  [["?"], "shortcut.list", (e) => e.key === "?" && !typing(e), showShortcuts],
];

const mod = (e) => (mac ? e.metaKey : e.ctrlKey) && !e.altKey;
const typing = (e) => {
  const el = e.target;
  return el instanceof HTMLElement && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
};

function escape() {
  if (closeSource()) return;
  if (document.body.classList.contains("sidebar-open")) {
    document.body.classList.remove("sidebar-open");
    return;
  }
  if (answering()) stopAnswer();
}

export function installShortcuts() {
  document.addEventListener("keydown", (e) => {
    if (dialogOpen() || e.defaultPrevented) return; // a dialog has its own keys
    for (const [, , test, action] of SHORTCUTS) {
      if (test(e)) {
        e.preventDefault();
        action();
        return;
      }
    }
  });
}

export function showShortcuts() {
  const rows = SHORTCUTS.map(([keys, what]) =>
    h("tr", {}, h("td", {}, keys.flatMap((k, i) => (i ? [" + ", h("kbd", {}, k)] : [h("kbd", {}, k)]))), h("td", {}, t(what))),
  );
  const table = h("table.shortcuts", {}, h("thead", {}, h("tr", {}, h("th", {}, t("keys")), h("th", {}, t("action")))), h("tbody", {}, rows));
  return infoDialog({ title: t("shortcuts"), content: table });
}
