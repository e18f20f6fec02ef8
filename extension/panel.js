// The side panel: finds Sabio (or asks for its address and a pairing code), then asks
// about the page or the selection, alone or with a knowledge base, summarizes and
// translates it, and saves it. The page's text is sent once per page; its id is reused
// for every question. Nothing here talks to anything but the connected Sabio.

import { DEFAULT_SERVER, Sabio, SabioError, findSabio, forget, remember, saved } from "./sabio.js";
import { readBlocksOf, readTab, showInTab, switchInTab } from "./tab.js";

const api = globalThis.browser ?? globalThis.chrome;
const $ = (id) => document.getElementById(id);
const msg = (name, subs) => api.i18n.getMessage(name, subs) || name;
const uiLanguage = () => (api.i18n.getMessage("@@ui_locale") || api.i18n.getUILanguage()).slice(0, 2);
const pinnedTab = Number(new URLSearchParams(location.search).get("tab")) || null;
const opened = new Map(); // what was sent → its page id on the server
let linked = null; // the linked page of a link's menu entry: { url, title, type, body }
let sabio = null;

function translatePanel() {
  document.documentElement.lang = uiLanguage();
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = msg(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = msg(el.dataset.i18nPlaceholder);
}

function showOnly(id) {
  for (const section of ["connect", "pairing", "work"]) $(section).hidden = section !== id;
}

function said(err) {
  if (err instanceof SabioError) {
    const known = err.key && api.i18n.getMessage(`error_${err.key}`);
    return known || msg("error", [err.message]);
  }
  return err instanceof TypeError ? msg("unreachable") : String(err.message ?? err);
}

async function start(address) {
  $("status").textContent = msg("connecting");
  const found = await findSabio(address);
  if (!found) {
    showOnly("connect");
    $("address").value = address || DEFAULT_SERVER;
    $("connect-note").textContent = msg("notFound", [address || DEFAULT_SERVER]);
    $("status").textContent = "";
    return;
  }
  const kept = await saved();
  const token = kept.server === found.server ? kept.token : "";
  await remember({ server: found.server, token: token || "" });
  sabio = new Sabio(found.server, token);
  $("status").textContent = msg("connectedTo", [found.server]);
  if (found.auth && !token) {
    showOnly("pairing");
    $("code").focus();
    return;
  }
  try {
    await loadKbs();
  } catch (err) {
    if (err instanceof SabioError && err.status === 401) {
      await remember({ token: "" });
      sabio.token = "";
      showOnly("pairing");
      $("pair-error").textContent = said(err);
      return;
    }
    throw err;
  }
  showOnly("work");
  await takePending();
}

async function loadKbs() {
  const kbs = await sabio.json("GET", "/kbs");
  const options = (list) => list.map((kb) => new Option(kb.name, kb.name));
  $("kb").replaceChildren(new Option(msg("pageOnly"), ""), ...options(kbs));
  const writable = kbs.filter((kb) => kb.access === "write" || kb.access === "manage");
  $("save-kb").replaceChildren(...(writable.length ? options(writable) : [new Option("default", "default")]));
}

async function targetTab() {
  if (pinnedTab) return pinnedTab;
  const [tab] = await api.tabs.query({ active: true, lastFocusedWindow: true });
  return tab?.id;
}

const about = () => document.querySelector("input[name=about]:checked").value;

// The page a link points to, read by the extension (with the user's cookies, as opening
// the link would): Sabio itself fetches nothing the user did not configure.
async function readLink(url) {
  const got = await fetch(url, { credentials: "include" });
  if (!got.ok) throw new Error(msg("linkFailed", [url, String(got.status)]));
  const type = got.headers.get("content-type") || "text/html";
  const body = await got.blob();
  let title = url;
  if (type.startsWith("text/html")) title = new DOMParser().parseFromString(await body.text(), "text/html").title || url;
  return { url, title, type, body };
}

// The linked page, sent to Sabio once (read as a file: its main content, or a PDF's pages).
async function openLinked(fresh) {
  if (!linked) throw new Error(msg("noPage"));
  const key = `${linked.url}\nlink`;
  if (fresh || !opened.has(key)) {
    const query = { url: linked.url, title: linked.title };
    const made = await sabio.json("POST", "/extension/pages/file", { body: linked.body, type: linked.type, query });
    opened.set(key, made.page_id);
  }
  return { id: opened.get(key), page: linked };
}

// The page (or selection) of the tab, sent to Sabio once: its page id.
async function openPage(tabId, what, { fresh = false } = {}) {
  if (what === "link") return openLinked(fresh);
  const page = await readTab(tabId).catch(() => null);
  if (!page) throw new Error(msg("noPage"));
  if (page.pdf) return { id: await openPdf(page, fresh), page };
  const text = what === "selection" ? page.selection : page.text;
  if (!text.trim()) throw new Error(msg(what === "selection" ? "noSelection" : "noPage"));
  const key = `${page.url}\n${what}\n${text.length}\n${text.slice(0, 500)}`;
  if (fresh || !opened.has(key)) {
    const made = await sabio.json("POST", "/extension/pages", { json: { url: page.url, title: page.title, text } });
    opened.set(key, made.page_id);
  }
  return { id: opened.get(key), page };
}

// The PDF the tab shows, read again from its address (with the tab's cookies) and sent
// to Sabio once.
async function openPdf(page, fresh) {
  const key = `${page.url}\npdf`;
  if (fresh || !opened.has(key)) {
    const body = await (await fetch(page.url, { credentials: "include" })).blob();
    const query = { url: page.url, title: page.title };
    const made = await sabio.json("POST", "/extension/pages/file", { body, type: "application/pdf", query });
    opened.set(key, made.page_id);
  }
  return opened.get(key);
}

// Runs `job(pageId)`; when the server forgot the page (restarted), sends it again once.
async function withPage(tabId, what, job) {
  const first = await openPage(tabId, what);
  try {
    return await job(first.id, first.page);
  } catch (err) {
    if (!(err instanceof SabioError && err.key === "page_gone")) throw err;
    const again = await openPage(tabId, what, { fresh: true });
    return job(again.id, again.page);
  }
}

function busy(on, note = "") {
  for (const id of ["ask", "summarize", "translate", "translate-here", "save"]) $(id).disabled = on;
  $("progress").textContent = note;
}

async function ask(question) {
  const tabId = await targetTab();
  $("answer").textContent = "";
  $("citations").replaceChildren();
  $("error").textContent = "";
  busy(true, msg("reading"));
  const clicked = performance.now();
  try {
    await withPage(tabId, about(), async (pageId) => {
      let text = "";
      $("progress").textContent = msg("thinking");
      const body = { question, kb: $("kb").value || null };
      await sabio.stream(`/extension/pages/${pageId}/ask`, body, (name, data) => {
        if (name === "token") {
          if (!text) document.body.dataset.firstTokenMs = String(Math.round(performance.now() - clicked));
          text += data.text;
          showText($("answer"), text);
        } else if (name === "done") {
          showText($("answer"), data.text);
          drawCitations(data.citations, tabId);
          document.body.dataset.answered = "true";
        } else if (name === "error") {
          throw new SabioError(500, data.error);
        }
      });
    });
  } catch (err) {
    $("error").textContent = said(err);
  } finally {
    busy(false);
  }
}

// An answer's Markdown as the panel shows it: its paragraphs, and its quotes ("> …", how an
// answer quotes the documents) as quotes; as text, never as HTML.
function showText(el, text) {
  const blocks = text.split(/\n{2,}/).filter((block) => block.trim());
  el.replaceChildren(
    ...blocks.map((block) => {
      const lines = block.split("\n");
      const quoted = lines.every((line) => line.startsWith(">"));
      const node = document.createElement(quoted ? "blockquote" : "p");
      node.textContent = quoted ? lines.map((line) => line.replace(/^>\s?/, "")).join("\n") : block;
      return node;
    }),
  );
}

function drawCitations(citations, tabId) {
  $("citations").replaceChildren(
    ...citations.map((c) => {
      const item = document.createElement("li");
      item.value = c.number;
      item.dataset.origin = c.origin;
      const where = document.createElement("span");
      where.className = "where";
      if (c.origin === "page") {
        where.textContent = c.page ? msg("onThisPageAt", [String(c.page)]) : msg("onThisPage");
        const show = document.createElement("button");
        show.type = "button";
        show.className = "link show-on-page";
        show.textContent = msg("showOnPage");
        const at = c.page ? `${c.file_url.split("#")[0]}#page=${c.page}` : c.file_url;
        const link = about() === "link";
        show.addEventListener("click", () =>
          link // the linked page: opened in a tab of its own
            ? api.tabs.create({ url: at })
            : c.page // a PDF: its viewer opens at the page
              ? api.tabs.update(tabId, { url: at })
              : showInTab(tabId, c.quotes?.[0] || c.text),
        );
        item.append(where, " · ", show);
      } else {
        where.textContent = msg("inKb", [c.kb]);
        const link = document.createElement("a");
        link.textContent = c.title || c.document;
        link.target = "_blank";
        link.rel = "noopener";
        if (c.file_url) link.href = new URL(c.file_url, sabio.server).href;
        item.append(where, ": ", link);
      }
      const snippet = document.createElement("span");
      snippet.className = "snippet";
      snippet.textContent = c.snippet;
      item.append(snippet);
      return item;
    }),
  );
}

async function pageTask(kind) {
  const tabId = await targetTab();
  $("answer").textContent = "";
  $("citations").replaceChildren();
  $("error").textContent = "";
  busy(true, msg("reading"));
  try {
    const shown = await withPage(tabId, about(), async (pageId) => {
      $("progress").textContent = msg("thinking");
      if (kind === "summarize") return (await sabio.json("POST", `/extension/pages/${pageId}/summarize`, { json: {} })).text;
      const to = uiLanguage();
      return (await sabio.json("POST", `/extension/pages/${pageId}/translate`, { json: { to } })).markdown;
    });
    showText($("answer"), shown);
    document.body.dataset.answered = "true";
  } catch (err) {
    $("error").textContent = said(err);
  } finally {
    busy(false);
  }
}

// Translation in place: the tab's blocks are translated one for one and put in their
// places; the next click puts the original back, the one after the translation again.
async function translateInPlace() {
  const tabId = await targetTab();
  $("error").textContent = "";
  busy(true, msg("reading"));
  let lost = 0;
  try {
    let now = await switchInTab(tabId);
    if (now === "none") {
      const blocks = await readBlocksOf(tabId);
      if (!blocks?.length) throw new Error(msg("noPage"));
      const done = await withPage(tabId, "page", (pageId) => {
        $("progress").textContent = msg("translating", [String(blocks.length)]);
        return sabio.json("POST", `/extension/pages/${pageId}/translate`, { json: { to: uiLanguage(), blocks } });
      });
      now = await switchInTab(tabId, done.blocks);
      const paired = /<[a-z]+\d+>/i; // a block's links, bold… (Sabio gives plain words when lost)
      lost = blocks.filter((b, i) => paired.test(b) && !paired.test(done.blocks[i] ?? "")).length;
    }
    $("translate-here").textContent = msg(now === "translated" ? "showOriginal" : "translateInPlace");
    $("translate-here").setAttribute("aria-pressed", String(now === "translated"));
    document.body.dataset.inPlace = now;
  } catch (err) {
    $("error").textContent = said(err);
  } finally {
    busy(false, lost ? msg("formattingLost", [String(lost)]) : "");
  }
}

// The page's HTML (its main content is read by Sabio), the PDF itself, or the selection.
async function save() {
  const tabId = await targetTab();
  const kb = $("save-kb").value || "default";
  $("saved").textContent = msg("saving");
  busy(true);
  try {
    const page = about() === "link" ? linked : await readTab(tabId);
    if (!page) throw new Error(msg("noPage"));
    let body = page.html;
    let type = "text/html";
    if (page === linked) {
      body = linked.body;
      type = linked.type;
    } else if (page.pdf) {
      body = await (await fetch(page.url, { credentials: "include" })).blob();
      type = "application/pdf";
    } else if (about() === "selection") {
      if (!page.selection.trim()) throw new Error(msg("noSelection"));
      body = page.selection;
      type = "text/plain";
    }
    const query = { url: page.url, title: page.title };
    const done = await sabio.json("POST", `/extension/kbs/${encodeURIComponent(kb)}/pages`, { body, type, query });
    $("saved").textContent = done.status === "indexed" ? msg("saved", [done.kb, String(done.passages)]) : msg("notSaved", [done.reason || done.status]);
    $("saved").dataset.status = done.status;
  } catch (err) {
    $("saved").textContent = said(err);
    $("saved").dataset.status = "error";
  } finally {
    busy(false);
  }
}

// What a context-menu entry asked for (background.js).
async function takePending() {
  const { pending } = await api.storage.session.get("pending");
  if (!pending || !sabio) return;
  await api.storage.session.remove("pending");
  const what = ["selection", "link"].find((end) => pending.action.endsWith(end)) ?? "page";
  if (what === "link") {
    try {
      linked = await readLink(pending.link);
    } catch (err) {
      $("error").textContent = said(err);
      return;
    }
    $("link-title").textContent = linked.title;
    $("about-link").hidden = false;
  }
  document.querySelector(`input[name=about][value=${what}]`).checked = true;
  if (pending.action.startsWith("ask")) $("question").focus();
  else if (pending.action.startsWith("save")) await save();
  else await pageTask(pending.action);
}

function wire() {
  $("connect-form").addEventListener("submit", (e) => {
    e.preventDefault();
    start($("address").value.trim());
  });
  $("pair-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("pair-error").textContent = "";
    try {
      const name = navigator.userAgentData?.brands?.at(-1)?.brand ?? "browser";
      const paired = await sabio.json("POST", "/extension/pair", { json: { code: $("code").value.trim(), name } });
      await remember({ server: sabio.server, token: paired.token, user: paired.user });
      $("code").value = "";
      await start(sabio.server);
      $("status").textContent = `${msg("connectedTo", [sabio.server])} · ${msg("paired", [paired.user])}`;
    } catch (err) {
      $("pair-error").textContent = said(err);
    }
  });
  $("ask-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const question = $("question").value.trim();
    if (question) ask(question);
  });
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      $("ask-form").requestSubmit();
    }
  });
  $("summarize").addEventListener("click", () => pageTask("summarize"));
  $("translate").addEventListener("click", () => pageTask("translate"));
  $("translate-here").addEventListener("click", translateInPlace);
  $("save-form").addEventListener("submit", (e) => {
    e.preventDefault();
    save();
  });
  $("forget").addEventListener("click", async () => {
    await forget();
    opened.clear();
    start();
  });
  api.storage.onChanged.addListener((changes, area) => {
    if (area === "session" && changes.pending?.newValue) takePending();
  });
}

translatePanel();
wire();
start().catch((err) => {
  $("status").textContent = said(err);
});
