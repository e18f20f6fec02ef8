// The page's building blocks, shared by the views: elements built without HTML parsing,
// icons, toasts, form fields, "details" disclosures, and the badges that explain a
// file's status.

import { t } from "./i18n.js";

export const $ = (selector, root = document) => root.querySelector(selector);

// h("button.primary", {onclick}, "text", child…): elements without HTML parsing.
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  el.append(...nodes(children));
  return el;
}

// Children as nodes: strings become text, null/undefined/false are left out (never the
// word "null" on the page).
export function nodes(children) {
  return children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false).map((c) => (c instanceof Node ? c : document.createTextNode(String(c))));
}

const PATHS = {
  menu: "M3 6h18M3 12h18M3 18h18",
  plus: "M12 5v14M5 12h14",
  send: "M4 12l16-8-6 16-3-7-7-1z",
  stop: "M6 6h12v12H6z",
  trash: "M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13",
  edit: "M4 20h4L19 9l-4-4L4 16v4z",
  close: "M6 6l12 12M18 6L6 18",
  books: "M4 4h5v16H4zM10 4h5v16h-5zM16 5l4 1-3 14-4-1z",
  gear: "M12 8a4 4 0 100 8 4 4 0 000-8zM12 2v3M12 19v3M2 12h3M19 12h3M4.9 4.9l2.1 2.1M17 17l2.1 2.1M4.9 19.1L7 17M17 7l2.1-2.1",
  upload: "M12 16V4M6 10l6-6 6 6M4 20h16",
  file: "M6 2h8l4 4v16H6zM14 2v4h4",
  chat: "M4 5h16v11H8l-4 4z",
  logout: "M15 4h4v16h-4M10 8l-4 4 4 4M6 12h10",
  folder: "M3 6h6l2 2h10v11H3z",
  mail: "M3 5h18v14H3zM3 6l9 7 9-7",
  globe: "M12 3a9 9 0 100 18 9 9 0 000-18zM3 12h18M12 3c3 3 3 15 0 18M12 3c-3 3-3 15 0 18",
  feed: "M5 19h.01M5 12a7 7 0 017 7M5 5a14 14 0 0114 14",
  sitemap: "M10 3h4v4h-4zM3 17h4v4H3zM10 17h4v4h-4zM17 17h4v4h-4zM12 7v5M5 17v-5h14v5M12 12v5",
  webhook: "M9 7a3 3 0 116 0c0 2-2 3-2 5M7 20a3 3 0 110-6h5l3 5M17 20a3 3 0 100-6",
  sync: "M20 11a8 8 0 00-14.6-4.4M4 13a8 8 0 0014.6 4.4M5 3v4h4M19 21v-4h-4",
  copy: "M8 8h12v12H8zM4 16V4h12",
  refresh: "M20 12a8 8 0 11-2.3-5.7M20 4v5h-5",
  clip: "M16 7l-7.5 7.5a2 2 0 002.8 2.8L19 9.6a4 4 0 00-5.7-5.7L6 11.2a6 6 0 008.5 8.5L20 14",
  download: "M12 4v12M6 10l6 6 6-6M4 20h16",
  left: "M15 5l-7 7 7 7",
  right: "M9 5l7 7-7 7",
  key: "M14 10a4 4 0 10-3.5 4L9 16H7v2H5v2H3v-3l7.1-7.1M16 8h.01",
  shield: "M12 3l8 3v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6z",
  users: "M9 11a4 4 0 100-8 4 4 0 000 8zM2 21v-1a7 7 0 0114 0v1M16 3.5a4 4 0 010 7.5M22 21v-1a7 7 0 00-4-6.3",
  keyboard: "M3 6h18v12H3zM7 10h.01M11 10h.01M15 10h.01M7 14h10",
  pin: "M12 17v5M9 3h6l-1 7 4 4H6l4-4z",
  // thumbs: Feather icons (MIT)
  thumbUp: "M14 9V5a3 3 0 00-3-3l-4 9v11h11.3a2 2 0 002-1.7l1.4-9a2 2 0 00-2-2.3zM7 22H4a2 2 0 01-2-2v-7a2 2 0 012-2h3",
  thumbDown: "M10 15v4a3 3 0 003 3l4-9V2H5.7a2 2 0 00-2 1.7l-1.4 9a2 2 0 002 2.3zM17 2h2.7A2.3 2.3 0 0122 4v7a2.3 2.3 0 01-2.3 2H17",
};

export function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("icon");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", PATHS[name]);
  svg.append(path);
  return svg;
}

const MAX_TOASTS = 3;

// A message at the top of the page (never over the question box): an error stays 8 s,
// other news 4 s; the same text is not shown twice at once, and at most three are.
export function toast(message, kind = "error", detail = null) {
  const box = $("#toasts");
  const text = String(message);
  for (const old of box.children) if (old.dataset.text === text) old.remove();
  while (box.children.length >= MAX_TOASTS) box.firstElementChild.remove();
  const el = h(
    `div.toast.${kind}`,
    { role: kind === "error" ? "alert" : "status", dataset: { text } },
    h("span.toast-text", {}, text),
    detail ? disclosure(detail) : null,
    h("button.icon-button.small.toast-close", { type: "button", "aria-label": t("close"), title: t("close"), onclick: () => el.remove() }, icon("close")),
  );
  box.append(el);
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 4000);
}

// Toasts belong to the page they were shown on: a new page starts without them.
export function clearToasts() {
  $("#toasts")?.replaceChildren();
}

// Technical words (the server's message, in English) behind a "Details" disclosure.
export function disclosure(detail) {
  return h("details.detail", {}, h("summary", {}, t("details")), h("code", {}, String(detail)));
}

export function field(label, input, help) {
  const helpEl = help ? h("small.muted", { id: `help-${Math.random().toString(36).slice(2)}` }, help) : null;
  if (helpEl && input instanceof Element) input.setAttribute("aria-describedby", helpEl.id);
  return h("label.field", {}, h("span", {}, label), input, helpEl);
}

export function statusBadge(status, outcome) {
  const label = outcome === "unchanged" ? t("status.unchanged") : t(`status.${status}`);
  return h(`span.badge.${status}`, {}, label);
}

// Why a file is not indexed: what it means and what to do, in the interface's language
// (`key`/`args`: a refusal's own words), then the server's exact words (English) behind
// "Details". `helps` names the set of explanations: "statusHelp" for uploads,
// "sourceHelp" for a source's items.
export function statusReason(status, reason, helps = "statusHelp", key = null, args = {}) {
  const own = key ? t(`reason.${key}`, args) : null;
  const help = own && own !== `reason.${key}` ? own : t(`${helps}.${status}`);
  const known = help !== `${helps}.${status}`;
  return [known ? h("div.status-help", {}, help) : null, reason ? (known ? disclosure(reason) : h("div.reason", {}, reason)) : null];
}

// Put `text` on the clipboard; where there is none (a page served over plain http to
// another computer), select `shown` for the user to copy by hand. Says so either way.
export function copyText(text, shown = null) {
  const select = () => {
    if (!shown) return toast(t("copyFailed"));
    const range = document.createRange();
    range.selectNodeContents(shown);
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    toast(t("copyByHand"), "info");
  };
  if (!navigator.clipboard) return select();
  navigator.clipboard.writeText(text).then(() => toast(t("copied"), "info"), select);
}

// A button that copies `text` (a function: what to copy when clicked).
export function copyButton(text, shown, { label = t("copy"), compact = false } = {}) {
  const value = typeof text === "function" ? text : () => text;
  return h(
    compact ? "button.icon-button.small" : "button.small",
    { type: "button", "aria-label": label, title: label, onclick: () => copyText(value(), shown) },
    compact ? icon("copy") : label,
  );
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// The page header: the phone's menu button, the title, and what follows it.
export function header(title, ...extra) {
  return h("header.main-header", {}, h("button.icon-button.only-phone", { type: "button", "aria-label": t("menu"), onclick: () => document.body.classList.add("sidebar-open") }, icon("menu")), h("h1", { id: "page-title" }, title), ...extra);
}
