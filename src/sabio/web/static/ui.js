// The page's building blocks, shared by app.js and sources.js: elements built without
// HTML parsing, icons, toasts, form fields, and the badges that explain a file's status.

import { ApiError } from "./api.js";
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
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function icon(name) {
  const paths = {
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
  };
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("icon");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", paths[name]);
  svg.append(path);
  return svg;
}

export function toast(message, kind = "error") {
  const el = h(`div.toast.${kind}`, { role: kind === "error" ? "alert" : "status" }, message);
  $("#toasts").append(el);
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 4000);
}

export function report(err) {
  if (err instanceof ApiError && err.status === 401) return; // the login form is shown
  if (err && err.name === "AbortError") return;
  console.error(err);
  toast(err instanceof ApiError ? err.message : t("unexpected", { error: String(err) }));
}

export function field(label, input, help) {
  return h("label.field", {}, h("span", {}, label), input, help ? h("small.muted", {}, help) : null);
}

export function statusBadge(status, outcome) {
  const label = outcome === "unchanged" ? t("status.unchanged") : t(`status.${status}`);
  return h(`span.badge.${status}`, {}, label);
}

// Why a file is not indexed: what to do, in the interface's language, then the server's
// own words (which name the exact problem, in English). `helps` names the set of
// explanations: "statusHelp" for uploads, "sourceHelp" for a source's items.
export function statusReason(status, reason, helps = "statusHelp") {
  const help = t(`${helps}.${status}`);
  return [help !== `${helps}.${status}` ? h("div.status-help", {}, help) : null, reason ? h("div.reason", {}, reason) : null];
}

// A button that copies `text`; where the clipboard is not available (a page served over
// plain http to another computer), it selects `shown` for the user to copy by hand.
export function copyButton(text, shown) {
  const select = () => {
    const range = document.createRange();
    range.selectNodeContents(shown);
    getSelection().removeAllRanges();
    getSelection().addRange(range);
  };
  return h(
    "button.small",
    {
      type: "button",
      onclick: () => {
        if (!navigator.clipboard) return select();
        navigator.clipboard.writeText(text).then(() => toast(t("copied"), "info"), select);
      },
    },
    t("copy"),
  );
}
