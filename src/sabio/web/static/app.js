// Sabio's web app: chats, knowledge bases and settings over the REST API. No framework and
// no build step: the page is built with DOM calls (text is never parsed as HTML, except
// answers, which go through the escaping Markdown renderer).

import { ApiError, api, onUnauthorized, setCsrf, stream, upload } from "./api.js";
import { formatDate, formatSize, getLang, setLang, t } from "./i18n.js";
import { renderMarkdown } from "./markdown.js";
import { confirmKbDeletion, dataSection } from "./privacy.js";
import { sourcesView } from "./sources.js";
import { $, copyButton, field, h, icon, report, statusBadge, statusReason, toast } from "./ui.js";

const state = {
  auth: null, // GET /auth/status
  kbs: [],
  models: [],
  chats: [],
  chat: null, // the open chat with its messages, or null for a new one
  draft: { kb: null, kbChosen: false, model: null }, // what a new chat will use
  streaming: null, // AbortController of the answer being streamed
  chatQuery: "",
  leave: null, // stops the shown view's background work (a sources tab's polling)
};

// theme and language

function applyTheme() {
  const choice = localStorage.getItem("sabio.theme") || "auto";
  const dark = choice === "dark" || (choice === "auto" && matchMedia("(prefers-color-scheme: dark)").matches);
  document.documentElement.dataset.theme = dark ? "dark" : "light";
}

function applyLang() {
  document.documentElement.lang = getLang();
  document.title = "Sabio";
  $("#source").setAttribute("aria-label", t("source"));
}

matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);

// start

async function start() {
  applyTheme();
  applyLang();
  onUnauthorized(() => showAuth());
  $("[data-close-sidebar]").addEventListener("click", closeSidebar);
  window.addEventListener("hashchange", route);
  try {
    state.auth = await api("GET", "/auth/status");
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) state.auth = { auth: false, local: true, user: null };
    else return fatal(err);
  }
  setCsrf(state.auth.csrf_token);
  if (state.auth.auth && !state.auth.user) return showAuth();
  await enter();
}

function fatal(err) {
  document.body.replaceChildren(h("div.fatal", {}, h("h1", {}, "Sabio"), h("p", {}, t("unreachable")), h("pre", {}, String(err.message || err))));
}

async function enter() {
  $("#auth").hidden = true;
  $("#app").hidden = false;
  renderSidebar();
  await Promise.all([loadKbs(), loadChats(), loadModels()]).catch(report);
  await route();
}

// sign in and first-run setup

function showAuth() {
  state.streaming?.abort();
  const setup = state.auth && state.auth.setup_needed;
  const box = $("#auth");
  $("#app").hidden = true;
  box.hidden = false;
  const error = h("p.form-error", { role: "alert" });
  const name = h("input", { name: "name", autocomplete: "username", required: true, maxlength: 64 });
  const password = h("input", { name: "password", type: "password", autocomplete: setup ? "new-password" : "current-password", required: true, minlength: setup ? 8 : null });
  const confirm = setup ? h("input", { name: "confirm", type: "password", autocomplete: "new-password", required: true }) : null;
  const code = setup ? h("input", { name: "setup_code", autocomplete: "off" }) : null;
  const form = h(
    "form.card.auth-card",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = "";
        if (setup && password.value !== confirm.value) {
          error.textContent = t("passwordsDiffer");
          return;
        }
        try {
          const body = { name: name.value.trim(), password: password.value };
          if (setup && code.value.trim()) body.setup_code = code.value.trim();
          state.auth = await api("POST", setup ? "/auth/setup" : "/auth/login", body);
          setCsrf(state.auth.csrf_token);
          await enter();
        } catch (err) {
          error.textContent = err.message;
        }
      },
    },
    h("h1.brand", {}, logo(), "Sabio"),
    h("h2", {}, setup ? t("setupTitle") : t("loginTitle")),
    setup ? h("p.muted", {}, t("setupHelp")) : null,
    field(t("userName"), name),
    field(t("password"), password),
    setup ? field(t("passwordAgain"), confirm) : null,
    setup ? field(t("setupCode"), code, t("setupCodeHelp")) : null,
    error,
    h("button.primary", { type: "submit" }, setup ? t("createAdmin") : t("signIn")),
    langSwitch(),
  );
  box.replaceChildren(form);
  name.focus();
}

function logo() {
  return h("span.logo", { "aria-hidden": "true" }, "S");
}

function langSwitch() {
  return h(
    "div.lang-switch",
    {},
    ["es", "en"].map((code) =>
      h(
        "button.link",
        {
          type: "button",
          "aria-pressed": String(getLang() === code),
          onclick: () => {
            setLang(code);
            applyLang();
            rerender();
          },
        },
        code === "es" ? "Español" : "English",
      ),
    ),
  );
}

function rerender() {
  if (!$("#auth").hidden) return showAuth();
  renderSidebar();
  route();
}

// data

async function loadKbs() {
  state.kbs = await api("GET", "/kbs");
}

async function loadChats() {
  const q = state.chatQuery.trim();
  state.chats = await api("GET", `/chats${q ? `?q=${encodeURIComponent(q)}` : ""}`);
  renderChatList();
}

async function loadModels() {
  state.models = await api("GET", "/models");
}

function defaultChatLabel() {
  const chosen = state.models.find((m) => m.default === "chat");
  return chosen ? `${t("defaultModel")} (${chosen.name})` : t("defaultModel");
}

function chatModels() {
  return state.models.filter((m) => m.kind === "chat" && m.available);
}

// the sidebar

function renderSidebar() {
  const search = h("input.search", {
    type: "search",
    placeholder: t("searchChats"),
    "aria-label": t("searchChats"),
    value: state.chatQuery,
    oninput: debounce((e) => {
      state.chatQuery = e.target.value;
      loadChats().catch(report);
    }, 250),
  });
  const user = state.auth && state.auth.user;
  $("#sidebar").replaceChildren(
    h("div.sidebar-top", {}, h("a.brand", { href: "#/new" }, logo(), "Sabio"), h("button.icon-button.only-phone", { "aria-label": t("close"), onclick: closeSidebar }, icon("close"))),
    h("a.button.primary.new-chat", { href: "#/new", onclick: closeSidebar }, icon("plus"), t("newChat")),
    search,
    h("nav.chat-list", { id: "chat-list", "aria-label": t("chats") }),
    h(
      "div.sidebar-bottom",
      {},
      h("a.nav-link", { href: "#/kbs", onclick: closeSidebar, dataset: { view: "kbs" } }, icon("books"), t("knowledgeBases")),
      h("a.nav-link", { href: "#/settings", onclick: closeSidebar, dataset: { view: "settings" } }, icon("gear"), t("settings")),
      state.auth && state.auth.local
        ? h("p.mode-note", { title: t("localModeHelp") }, t("localMode"))
        : user
          ? h("div.user-row", {}, h("span", {}, user.name), h("button.icon-button", { "aria-label": t("signOut"), title: t("signOut"), onclick: signOut }, icon("logout")))
          : null,
    ),
  );
  renderChatList();
}

function renderChatList() {
  const list = $("#chat-list");
  if (!list) return;
  const current = state.chat && state.chat.id;
  if (!state.chats.length) {
    list.replaceChildren(h("p.muted.empty-list", {}, state.chatQuery ? t("noChatsFound") : t("noChats")));
    return;
  }
  list.replaceChildren(
    ...state.chats.map((chat) =>
      h(
        "div.chat-item",
        { "aria-current": chat.id === current ? "page" : null },
        h("a.chat-link", { href: `#/chat/${chat.id}`, onclick: closeSidebar, title: chat.title || t("untitled") }, chat.title || t("untitled")),
        h("button.icon-button.small", { "aria-label": t("rename"), title: t("rename"), onclick: () => renameChat(chat) }, icon("edit")),
        h("button.icon-button.small", { "aria-label": t("delete"), title: t("delete"), onclick: () => deleteChat(chat) }, icon("trash")),
      ),
    ),
  );
}

async function renameChat(chat) {
  const title = prompt(t("renamePrompt"), chat.title);
  if (!title || !title.trim() || title === chat.title) return;
  try {
    await api("PATCH", `/chats/${chat.id}`, { title: title.trim() });
    if (state.chat && state.chat.id === chat.id) state.chat.title = title.trim();
    await loadChats();
    if (state.chat && state.chat.id === chat.id) $("#chat-title").textContent = title.trim();
  } catch (err) {
    report(err);
  }
}

async function deleteChat(chat) {
  if (!confirm(t("deleteChatConfirm", { title: chat.title || t("untitled") }))) return;
  try {
    await api("DELETE", `/chats/${chat.id}`);
    await loadChats();
    if (state.chat && state.chat.id === chat.id) location.hash = "#/new";
  } catch (err) {
    report(err);
  }
}

async function signOut() {
  try {
    await api("POST", "/auth/logout");
  } catch (err) {
    report(err);
  }
  state.auth = await api("GET", "/auth/status");
  setCsrf(null);
  showAuth();
}

function openSidebar() {
  document.body.classList.add("sidebar-open");
}

function closeSidebar() {
  document.body.classList.remove("sidebar-open");
}

function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// routing: #/new, #/chat/ID, #/kbs, #/kbs/NAME, #/kbs/NAME/sources, #/settings

async function route() {
  const [, view, arg, tab] = (location.hash || "#/new").split("/");
  closeSource();
  state.leave?.();
  state.leave = null;
  for (const link of document.querySelectorAll(".nav-link")) {
    link.toggleAttribute("aria-current", link.dataset.view === view);
  }
  try {
    if (view === "chat" && arg) await showChat(Number(arg));
    else if (view === "kbs") await showKbs(arg ? decodeURIComponent(arg) : null, tab);
    else if (view === "settings") await showSettings();
    else showNewChat();
  } catch (err) {
    report(err);
    if (err instanceof ApiError && err.status === 404) location.hash = "#/new";
  }
}

function header(title, ...extra) {
  return h("header.main-header", {}, h("button.icon-button.only-phone", { "aria-label": t("menu"), onclick: openSidebar }, icon("menu")), h("h1", { id: "chat-title" }, title), ...extra);
}

// chats

function showNewChat() {
  state.streaming?.abort();
  state.chat = null;
  renderChatList();
  const gone = state.draft.kb && !state.kbs.some((kb) => kb.name === state.draft.kb);
  if (!state.draft.kbChosen || gone) {
    state.draft.kb = state.kbs.length ? (state.kbs.find((kb) => kb.name === "default") || state.kbs[0]).name : "";
  }
  const kbSelect = h(
    "select",
    {
      "aria-label": t("knowledgeBase"),
      onchange: (e) => {
        state.draft.kb = e.target.value;
        state.draft.kbChosen = true;
      },
    },
    state.kbs.map((kb) => h("option", { value: kb.name, selected: kb.name === state.draft.kb }, `${kb.name} (${t("nDocuments", { n: kb.documents })})`)),
    h("option", { value: "", selected: state.draft.kb === "" }, t("noDocuments")),
  );
  const modelSelect = h(
    "select",
    { "aria-label": t("model"), onchange: (e) => (state.draft.model = e.target.value || null) },
    h("option", { value: "" }, defaultChatLabel()),
    chatModels().map((m) => h("option", { value: m.name, selected: m.name === state.draft.model }, m.name)),
  );
  const intro = h(
    "div.empty-chat",
    {},
    h("h2", {}, t("welcome")),
    h("p.muted", {}, state.kbs.length ? t("welcomeHelp") : t("welcomeNoKb")),
    !state.kbs.length ? h("a.button", { href: "#/kbs" }, icon("upload"), t("addDocuments")) : null,
    h("div.pickers", {}, field(t("knowledgeBase"), kbSelect), field(t("model"), modelSelect)),
  );
  $("#main").replaceChildren(header(t("newChat")), h("div.messages", { id: "messages" }, intro), composer());
  $("#question").focus();
}

async function showChat(id) {
  if (state.chat && state.chat.id === id && state.streaming) return; // just created, streaming
  state.streaming?.abort();
  state.chat = await api("GET", `/chats/${id}`);
  renderChatList();
  const chat = state.chat;
  const messages = h("div.messages", { id: "messages" });
  $("#main").replaceChildren(header(chat.title || t("untitled"), chatMeta(chat)), messages, composer());
  for (let i = 0; i < chat.messages.length; i++) {
    const m = chat.messages[i];
    if (m.role === "user") messages.append(userMessage(m.content));
    else messages.append(answerView({ text: m.content, citations: m.citations, complete: m.complete, error: m.complete ? null : t("incompleteSaved") }, chat.kb));
  }
  messages.scrollTop = messages.scrollHeight;
  $("#question").focus();
}

function chatMeta(chat) {
  const where = chat.kb ? (chat.kb_available ? chat.kb : t("kbDeleted", { kb: chat.kb })) : t("noDocuments");
  return h("div.chat-meta", {}, h("span.tag", { title: t("knowledgeBase") }, icon("books"), where), h("span.tag", { title: t("model") }, chat.model || defaultChatLabel()));
}

function composer() {
  const question = h("textarea", {
    id: "question",
    rows: 1,
    placeholder: t("askPlaceholder"),
    "aria-label": t("askPlaceholder"),
    maxlength: 20000,
    oninput: (e) => autosize(e.target),
    onkeydown: (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        send();
      }
    },
  });
  const button = h("button.primary.send", { id: "send", type: "button", "aria-label": t("send"), title: t("send"), onclick: () => (state.streaming ? state.streaming.abort() : send()) }, icon("send"));
  return h("div.composer", {}, question, button);
}

function autosize(area) {
  area.style.height = "auto";
  area.style.height = `${Math.min(area.scrollHeight, 240)}px`;
}

function userMessage(text) {
  return h("div.message.user", {}, h("div.bubble", {}, text));
}

// An answer: Markdown with citation chips, then its sources. `answer`: {text, citations,
// complete, error, no_answer}; returns the element, with .update(answer) for streaming.
function answerView(answer, kb) {
  const body = h("div.answer-text");
  const sources = h("div.sources");
  const status = h("p.answer-status");
  const el = h("div.message.assistant", {}, body, status, sources);
  el.update = (a) => {
    const byNumber = new Map((a.citations || []).map((c) => [c.number, c]));
    body.innerHTML = renderMarkdown(a.text || "", (n) => (byNumber.has(n) ? chipHtml(byNumber.get(n)) : null));
    for (const chip of body.querySelectorAll("button.cite")) {
      const c = byNumber.get(Number(chip.dataset.n));
      chip.addEventListener("click", () => openSource(c, kb, chip));
    }
    sources.replaceChildren();
    if (a.citations && a.citations.length) {
      sources.append(
        h("span.sources-label", {}, t("sources")),
        ...a.citations.map((c) =>
          h(
            "button.source-chip",
            { type: "button", title: c.snippet, onclick: (e) => openSource(c, kb, e.currentTarget) },
            h("span.cite-number", {}, String(c.number)),
            h("span.source-name", {}, c.title || c.document),
            c.page ? h("span.muted", {}, t("pageN", { n: c.page })) : null,
            c.inferred ? h("span.inferred", { title: t("inferredHelp") }, t("inferred")) : null,
          ),
        ),
      );
    }
    status.textContent = a.complete === false ? t("incomplete", { error: a.error || "" }) : "";
    status.hidden = a.complete !== false;
  };
  el.update(answer);
  return el;
}

function chipHtml(c) {
  const where = `${c.title || c.document}${c.page ? `, ${t("pageN", { n: c.page })}` : ""}`;
  const escaped = where.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return `<button type="button" class="cite" data-n="${c.number}" title="${escaped}" aria-label="${t("source")} ${c.number}: ${escaped}">${c.number}</button>`;
}

async function send() {
  const area = $("#question");
  const question = area.value.trim();
  if (!question || state.streaming) return;
  const messages = $("#messages");
  const controller = new AbortController();
  state.streaming = controller;
  setSending(true);
  try {
    if (!state.chat) {
      const created = await api("POST", "/chats", { kb: state.draft.kb || null, model: state.draft.model || null });
      state.chat = { ...created, messages: [] };
      $(".empty-chat")?.remove();
      $(".main-header").append(chatMeta(state.chat));
      history.replaceState(null, "", `#/chat/${created.id}`);
    }
    area.value = "";
    autosize(area);
    messages.append(userMessage(question));
    const answer = { text: "", citations: [], complete: true };
    const view = answerView(answer, state.chat.kb);
    view.classList.add("streaming");
    const waiting = h("p.waiting", {}, h("span.dots", { "aria-hidden": "true" }), state.chat.kb ? t("searching") : t("thinking"));
    view.prepend(waiting);
    messages.append(view);
    scrollDown(messages, true);
    let scheduled = false;
    const draw = () => {
      scheduled = false;
      view.update(answer);
      scrollDown(messages);
    };
    for await (const { event, data } of stream(`/chats/${state.chat.id}/messages`, { question }, controller.signal)) {
      if (event === "token") {
        waiting.remove();
        answer.text += data.text;
        if (!scheduled) {
          scheduled = true;
          requestAnimationFrame(draw);
        }
      } else if (event === "done") {
        Object.assign(answer, data);
      } else if (event === "error") {
        answer.complete = false;
        answer.error = data.error.message;
      }
    }
    waiting.remove();
    view.classList.remove("streaming");
    view.update(answer);
    scrollDown(messages);
    await loadChats();
    if (state.chat && !state.chat.title) {
      const listed = state.chats.find((c) => c.id === state.chat.id);
      if (listed) {
        state.chat.title = listed.title;
        $("#chat-title").textContent = listed.title;
      }
    }
  } catch (err) {
    $(".message.assistant.streaming .waiting")?.remove();
    const streamingView = $(".message.assistant.streaming");
    if (err.name === "AbortError") {
      streamingView?.classList.remove("streaming");
      await loadChats().catch(report);
    } else {
      streamingView?.remove();
      if (!area.value) area.value = question;
      report(err);
    }
  } finally {
    state.streaming = null;
    setSending(false);
  }
}

function setSending(on) {
  const button = $("#send");
  if (!button) return;
  button.replaceChildren(icon(on ? "stop" : "send"));
  button.setAttribute("aria-label", on ? t("stop") : t("send"));
  button.title = on ? t("stop") : t("send");
}

function scrollDown(box, force = false) {
  const near = box.scrollHeight - box.scrollTop - box.clientHeight < 160;
  if (force || near) box.scrollTop = box.scrollHeight;
}

// the source panel: the cited passage highlighted in its surroundings, and the original

async function openSource(citation, kb, opener) {
  const panel = $("#source");
  for (const el of document.querySelectorAll(".cite.active, .source-chip.active")) el.classList.remove("active");
  opener?.classList.add("active");
  panel.hidden = false;
  document.body.classList.add("source-open");
  const title = citation.title || citation.document;
  const content = h("div.source-body", {}, h("p.muted", {}, t("loading")));
  const where = h("div.source-where", {}, h("h2", {}, `[${citation.number}] ${title}`), h("p.muted", {}, [citation.document !== title ? citation.document : null, citation.page ? t("pageN", { n: citation.page }) : null].filter(Boolean).join(" · ")));
  panel.replaceChildren(h("div.source-head", {}, where, h("button.icon-button", { "aria-label": t("close"), title: t("close"), onclick: closeSource }, icon("close"))), content);
  panel.focus();
  if (!kb) {
    content.replaceChildren(h("p", {}, citation.snippet));
    return;
  }
  try {
    const p = await api("GET", `/kbs/${encodeURIComponent(kb)}/passages/${citation.chunk_id}`);
    const mark = h("mark", {}, p.text);
    if (p.file_url) where.append(h("a.button.small", { href: p.file_url, target: "_blank", rel: "noopener" }, icon("file"), p.page ? t("openAtPage", { n: p.page }) : t("openOriginal"))); // a mail or a posted text has none
    content.replaceChildren(
      p.heading ? h("p.passage-heading", {}, p.heading) : null,
      h("div.passage", {}, p.before ? h("span.context", {}, p.before) : null, mark, p.after ? h("span.context", {}, p.after) : null),
    );
    mark.scrollIntoView({ block: "start" });
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) report(err);
    content.replaceChildren(h("p.muted", {}, t("passageGone")), h("blockquote", {}, citation.snippet));
  }
}

function closeSource() {
  const panel = $("#source");
  if (!panel) return;
  panel.hidden = true;
  document.body.classList.remove("source-open");
  for (const el of document.querySelectorAll(".cite.active, .source-chip.active")) el.classList.remove("active");
}

document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") {
    closeSource();
    closeSidebar();
  }
});

// knowledge bases

async function showKbs(name, tab) {
  state.streaming?.abort();
  state.chat = null;
  renderChatList();
  await loadKbs();
  const selected = name && state.kbs.find((kb) => kb.name === name);
  const nameInput = h("input", { name: "kb-name", required: true, maxlength: 64, pattern: "[A-Za-z0-9._\\-]+", placeholder: t("kbNamePlaceholder"), "aria-label": t("kbName") });
  const create = h(
    "form.inline-form",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          const kb = await api("POST", "/kbs", { name: nameInput.value.trim() });
          location.hash = `#/kbs/${encodeURIComponent(kb.name)}`;
        } catch (err) {
          report(err);
        }
      },
    },
    nameInput,
    h("button.primary", { type: "submit" }, icon("plus"), t("create")),
  );
  const list = h("div.kb-list");
  const drawList = () =>
    list.replaceChildren(
      ...(state.kbs.length
        ? state.kbs.map((kb) =>
            h(
              "a.kb-card",
              { href: `#/kbs/${encodeURIComponent(kb.name)}`, "aria-current": selected && kb.name === selected.name ? "page" : null },
              h("strong", {}, kb.name),
              h("span.muted", {}, `${t("nDocuments", { n: kb.documents })} · ${t("nPassages", { n: kb.passages })}`),
            ),
          )
        : [h("p.muted", {}, t("noKbs"))]),
    );
  drawList();
  const main = h("div.page", {}, h("section.card", {}, h("h2", {}, t("knowledgeBases")), list, create));
  $("#main").replaceChildren(header(t("knowledgeBases")), main);
  if (selected) main.append(await kbDetail(selected, drawList, tab));
}

// One knowledge base: re-index, delete, and a tab for its documents (`tab` undefined) or
// its sources (`tab` "sources"). `changed()` redraws the list of knowledge bases.
async function kbDetail(kb, changed, tab) {
  const counts = h("p.muted", {}, kbSummary(kb));
  const refreshCounts = async () => {
    const fresh = await api("GET", `/kbs/${encodeURIComponent(kb.name)}`);
    counts.textContent = kbSummary(fresh);
    state.kbs = state.kbs.map((k) => (k.name === fresh.name ? fresh : k));
    changed();
  };
  const onSources = tab === "sources";
  const base = `#/kbs/${encodeURIComponent(kb.name)}`;
  const tabs = h(
    "nav.tabs",
    { "aria-label": kb.name },
    h("a.tab", { href: base, "aria-current": onSources ? null : "page" }, icon("file"), t("documents")),
    h("a.tab", { href: `${base}/sources`, "aria-current": onSources ? "page" : null }, icon("sync"), t("sources")),
  );
  let body;
  let refresh = refreshCounts;
  if (onSources) {
    const admin = !state.auth.auth || Boolean(state.auth.user && state.auth.user.admin);
    const view = await sourcesView(kb, { admin, changed: () => refreshCounts().catch(report) });
    state.leave = view.stop;
    body = view.element;
  } else {
    ({ body, refresh } = await documentsTab(kb, refreshCounts));
  }
  return h(
    "section.card",
    {},
    h(
      "div.section-head",
      {},
      h("div", {}, h("h2", {}, kb.name), counts),
      h(
        "div.actions",
        {},
        h("button", { type: "button", onclick: () => reindex(kb, refresh), title: t("reindexHelp") }, t("reindex")),
        h("button.danger", { type: "button", onclick: () => deleteKb(kb) }, icon("trash"), t("delete")),
      ),
    ),
    tabs,
    body,
  );
}

// The documents of a knowledge base and the drop zone to upload more: {body, refresh}.
async function documentsTab(kb, refreshCounts) {
  const docs = h("div.documents");
  const queue = h("ul.upload-queue", { "aria-live": "polite" });
  const fileInput = h("input", { type: "file", multiple: true, hidden: true, onchange: (e) => enqueue(Array.from(e.target.files)) });
  const refresh = async () => {
    const [documents] = await Promise.all([api("GET", `/kbs/${encodeURIComponent(kb.name)}/documents`), refreshCounts()]);
    docs.replaceChildren(documentTable(kb, documents, refresh));
  };
  let pending = [];
  let running = 0;
  const enqueue = (files) => {
    for (const file of files) {
      const bar = h("progress", { max: 1, value: 0 });
      const status = h("span.status", {}, t("waiting"));
      const row = h("li", {}, h("span.file-name", {}, file.name), h("span.muted", {}, formatSize(file.size)), bar, status);
      queue.append(row);
      pending.push({ file, bar, status, row });
    }
    pump();
  };
  const pump = () => {
    while (running < 2 && pending.length) {
      const item = pending.shift();
      running += 1;
      item.status.textContent = t("uploading");
      upload(kb.name, item.file, (fraction) => {
        item.bar.value = fraction;
        if (fraction >= 1) {
          item.bar.removeAttribute("value"); // indeterminate while the server indexes
          item.status.textContent = t("indexing");
        }
      })
        .then((result) => {
          item.bar.max = 1;
          item.bar.value = 1;
          item.row.dataset.status = result.status;
          item.status.replaceChildren(statusBadge(result.status, result.outcome), ...(result.reason ? statusReason(result.status, result.reason) : result.passages ? [h("span.muted", {}, t("nPassages", { n: result.passages }))] : []));
        })
        .catch((err) => {
          item.bar.max = 1;
          item.bar.value = 0;
          item.row.dataset.status = "failed";
          item.status.replaceChildren(statusBadge("rejected"), h("span.reason", {}, err.message));
        })
        .finally(() => {
          running -= 1;
          if (!pending.length && !running) refresh().catch(report);
          pump();
        });
    }
  };
  const drop = h(
    "div.dropzone",
    {
      tabindex: 0,
      role: "button",
      "aria-label": t("dropHelp"),
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
        enqueue(Array.from(e.dataTransfer.files));
      },
    },
    icon("upload"),
    h("strong", {}, t("dropTitle")),
    h("span.muted", {}, t("dropHelp")),
    fileInput,
  );
  await refresh();
  return { body: h("div.kb-documents", {}, drop, queue, docs), refresh };
}

function kbSummary(kb) {
  return `${t("nDocuments", { n: kb.documents })} · ${t("nPassages", { n: kb.passages })} · ${kb.embedding_model}`;
}

function documentTable(kb, documents, refresh) {
  if (!documents.length) return h("p.muted", {}, t("noDocumentsYet"));
  return h(
    "div.table",
    {},
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, h("th", {}, t("document")), h("th", {}, t("status")), h("th.num", {}, t("pages")), h("th.num", {}, t("passages")), h("th", {}, t("updated")), h("th", {}, ""))),
      h(
        "tbody",
        {},
        documents.map((d) =>
          h(
            "tr",
            {},
            h("td", {}, d.file_url ? h("a", { href: d.file_url, target: "_blank", rel: "noopener" }, d.name) : d.name, d.title && d.title !== d.name ? h("div.muted.small", {}, d.title) : null),
            h("td", {}, statusBadge(d.status), ...(d.reason ? statusReason(d.status, d.reason) : [])),
            h("td.num", {}, d.pages ?? ""),
            h("td.num", {}, d.passages),
            h("td.muted", {}, formatDate(d.updated_at)),
            h(
              "td",
              {},
              h(
                "button.icon-button.small",
                {
                  "aria-label": `${t("remove")} ${d.name}`,
                  title: t("remove"),
                  onclick: async () => {
                    if (!confirm(t("removeDocConfirm", { name: d.name }))) return;
                    try {
                      await api("DELETE", `/kbs/${encodeURIComponent(kb.name)}/documents/${d.id}`);
                      await refresh();
                    } catch (err) {
                      report(err);
                    }
                  },
                },
                icon("trash"),
              ),
            ),
          ),
        ),
      ),
    ),
  );
}

async function reindex(kb, refresh) {
  if (!confirm(t("reindexConfirm", { kb: kb.name }))) return;
  toast(t("reindexing", { kb: kb.name }), "info");
  try {
    await api("POST", `/kbs/${encodeURIComponent(kb.name)}/reindex`);
    toast(t("reindexed", { kb: kb.name }), "info");
    await refresh();
  } catch (err) {
    report(err);
  }
}

async function deleteKb(kb) {
  const choice = await confirmKbDeletion(kb); // and whether to keep its chats
  if (!choice) return;
  try {
    await api("DELETE", `/kbs/${encodeURIComponent(kb.name)}${choice.keepChats ? "?keep_chats=true" : ""}`);
    await loadChats();
    await loadKbs();
    location.hash = "#/kbs";
  } catch (err) {
    report(err);
  }
}

// settings

async function showSettings() {
  state.streaming?.abort();
  state.chat = null;
  renderChatList();
  const page = h("div.page");
  $("#main").replaceChildren(header(t("settings")), page);
  const admin = !state.auth.auth || (state.auth.user && state.auth.user.admin);
  page.append(interfaceSection());
  if (admin) page.append(await modelSection(), pullSection(), await dataSection());
  page.append(state.auth.auth ? await accountSection() : localSection());
  if (state.auth.auth && admin) page.append(await usersSection());
}

function interfaceSection() {
  const lang = h(
    "select",
    {
      onchange: (e) => {
        setLang(e.target.value || null);
        applyLang();
        rerender();
      },
    },
    h("option", { value: "", selected: !localStorage.getItem("sabio.lang") }, t("automatic")),
    h("option", { value: "es", selected: localStorage.getItem("sabio.lang") === "es" }, "Español"),
    h("option", { value: "en", selected: localStorage.getItem("sabio.lang") === "en" }, "English"),
  );
  const theme = localStorage.getItem("sabio.theme") || "auto";
  const themeSelect = h(
    "select",
    {
      onchange: (e) => {
        localStorage.setItem("sabio.theme", e.target.value);
        applyTheme();
      },
    },
    ["auto", "light", "dark"].map((v) => h("option", { value: v, selected: theme === v }, t(`theme.${v}`))),
  );
  return h("section.card", {}, h("h2", {}, t("interface")), h("div.grid", {}, field(t("language"), lang), field(t("theme"), themeSelect)));
}

async function modelSection() {
  const settings = await api("GET", "/settings");
  await loadModels().catch(report);
  const overridden = settings.overridden || {};
  const note = (name) => (overridden[name] ? t("overridden", { where: overridden[name] }) : null);
  const ollama = h("input", { name: "ollama_host", value: settings.ollama_host, type: "url", required: true });
  const options = (kind, current) => {
    const names = state.models.filter((m) => m.kind === kind && m.available).map((m) => m.name);
    if (current !== "auto" && !names.includes(current)) names.unshift(current);
    return [h("option", { value: "auto", selected: current === "auto" }, t("automatic")), ...names.map((n) => h("option", { value: n, selected: n === current }, n))];
  };
  const chat = h("select", { name: "chat_model" }, options("chat", settings.chat_model));
  const embedding = h("select", { name: "embedding_model" }, options("embedding", settings.embedding_model));
  const saved = h("span.muted", { role: "status" });
  return h(
    "form.card",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        saved.textContent = "";
        try {
          await api("PUT", "/settings", { ollama_host: ollama.value.trim(), chat_model: chat.value, embedding_model: embedding.value });
          saved.textContent = t("saved");
          await loadModels();
        } catch (err) {
          report(err);
        }
      },
    },
    h("h2", {}, t("models")),
    h("p.muted", {}, t("modelsHelp")),
    h(
      "div.grid",
      {},
      field(t("ollamaUrl"), ollama, note("ollama_host")),
      field(t("chatModel"), chat, note("chat_model") || t("chatModelHelp")),
      field(t("embeddingModel"), embedding, note("embedding_model") || t("embeddingModelHelp")),
    ),
    h("div.actions", {}, h("button.primary", { type: "submit" }, t("save")), saved),
    state.models.filter((m) => !m.available && m.note).map((m) => h("p.backend-note", {}, `${m.name}: ${m.note}`)),
  );
}

function pullSection() {
  const name = h("input", { name: "pull", placeholder: "qwen3:4b", required: true, "aria-label": t("modelName") });
  const bar = h("progress", { max: 1, value: 0, hidden: true });
  const status = h("span.muted", { role: "status" });
  return h(
    "form.card",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        bar.hidden = false;
        bar.removeAttribute("value");
        status.textContent = t("pulling");
        try {
          for await (const { event, data } of stream("/models/pull", { name: name.value.trim() })) {
            if (event === "progress") {
              if (data.total) {
                bar.max = data.total;
                bar.value = data.completed || 0;
                status.textContent = `${data.status} · ${formatSize(data.completed || 0)} / ${formatSize(data.total)}`;
              } else status.textContent = data.status;
            } else if (event === "done") {
              bar.max = 1;
              bar.value = 1;
              status.textContent = t("pulled", { name: data.name });
              await loadModels();
            } else if (event === "error") {
              status.textContent = data.error.message;
            }
          }
        } catch (err) {
          bar.hidden = true;
          status.textContent = err.message;
        }
      },
    },
    h("h2", {}, t("pullTitle")),
    h("p.muted", {}, t("pullHelp")),
    h("div.inline-form", {}, name, h("button", { type: "submit" }, t("pull"))),
    h("div.pull-progress", {}, bar, status),
  );
}

function localSection() {
  return h("section.card", {}, h("h2", {}, t("access")), h("p", {}, t("localModeHelp")), h("pre", {}, "sabio serve --auth --host 0.0.0.0"));
}

async function accountSection() {
  const tokens = await api("GET", "/auth/tokens");
  const current = h("input", { type: "password", autocomplete: "current-password", required: true });
  const fresh = h("input", { type: "password", autocomplete: "new-password", required: true, minlength: 8 });
  const tokenName = h("input", { required: true, maxlength: 64, placeholder: "n8n", "aria-label": t("tokenName") });
  const shown = h("div.token-shown", { hidden: true });
  const list = h("ul.token-list");
  const drawTokens = (items) =>
    list.replaceChildren(
      ...(items.length
        ? items.map((tok) =>
            h(
              "li",
              {},
              h("strong", {}, tok.name),
              h("span.muted", {}, `${t("created")} ${formatDate(tok.created_at)} · ${tok.last_used_at ? `${t("lastUsed")} ${formatDate(tok.last_used_at)}` : t("neverUsed")}`),
              h(
                "button.danger.small",
                {
                  type: "button",
                  onclick: async () => {
                    if (!confirm(t("revokeConfirm", { name: tok.name }))) return;
                    try {
                      await api("DELETE", `/auth/tokens/${tok.id}`);
                      drawTokens(await api("GET", "/auth/tokens"));
                    } catch (err) {
                      report(err);
                    }
                  },
                },
                t("revoke"),
              ),
            ),
          )
        : [h("li.muted", {}, t("noTokens"))]),
    );
  drawTokens(tokens);
  return h(
    "section.card",
    {},
    h("h2", {}, t("account")),
    h("p", {}, t("signedInAs", { name: state.auth.user.name }), " ", h("button.link", { type: "button", onclick: signOut }, t("signOut"))),
    h(
      "form.grid",
      {
        onsubmit: async (e) => {
          e.preventDefault();
          try {
            await api("POST", "/auth/password", { current: current.value, new: fresh.value });
            current.value = fresh.value = "";
            toast(t("passwordChanged"), "info");
          } catch (err) {
            report(err);
          }
        },
      },
      h("input", { type: "text", autocomplete: "username", value: state.auth.user.name, readonly: true, hidden: true }),
      field(t("currentPassword"), current),
      field(t("newPassword"), fresh),
      h("div.actions", {}, h("button", { type: "submit" }, t("changePassword"))),
    ),
    h("h3", {}, t("apiTokens")),
    h("p.muted", {}, t("apiTokensHelp")),
    list,
    h(
      "form.inline-form",
      {
        onsubmit: async (e) => {
          e.preventDefault();
          try {
            const made = await api("POST", "/auth/tokens", { name: tokenName.value.trim() });
            tokenName.value = "";
            shown.hidden = false;
            const code = h("code.token", {}, made.token);
            shown.replaceChildren(h("p", {}, t("tokenOnce")), code, copyButton(made.token, code));
            drawTokens(await api("GET", "/auth/tokens"));
          } catch (err) {
            report(err);
          }
        },
      },
      tokenName,
      h("button", { type: "submit" }, t("createToken")),
    ),
    shown,
  );
}

async function usersSection() {
  const list = h("ul.token-list");
  const draw = async () => {
    const users = await api("GET", "/auth/users");
    list.replaceChildren(
      ...users.map((u) =>
        h(
          "li",
          {},
          h("strong", {}, u.name),
          h("span.muted", {}, u.admin ? t("admin") : t("user")),
          u.id === state.auth.user.id
            ? h("span.muted", {}, t("you"))
            : h(
                "button.danger.small",
                {
                  type: "button",
                  onclick: async () => {
                    if (!confirm(t("deleteUserConfirm", { name: u.name }))) return;
                    try {
                      await api("DELETE", `/auth/users/${u.id}`);
                      await draw();
                    } catch (err) {
                      report(err);
                    }
                  },
                },
                t("delete"),
              ),
        ),
      ),
    );
  };
  await draw();
  const name = h("input", { required: true, maxlength: 64, autocomplete: "off" });
  const password = h("input", { type: "password", required: true, minlength: 8, autocomplete: "new-password" });
  const isAdmin = h("input", { type: "checkbox" });
  return h(
    "section.card",
    {},
    h("h2", {}, t("users")),
    list,
    h(
      "form.grid",
      {
        onsubmit: async (e) => {
          e.preventDefault();
          try {
            await api("POST", "/auth/users", { name: name.value.trim(), password: password.value, admin: isAdmin.checked });
            name.value = password.value = "";
            isAdmin.checked = false;
            await draw();
          } catch (err) {
            report(err);
          }
        },
      },
      field(t("userName"), name),
      field(t("password"), password),
      h("label.check", {}, isAdmin, t("makeAdmin")),
      h("div.actions", {}, h("button", { type: "submit" }, t("addUser"))),
    ),
  );
}

start();
