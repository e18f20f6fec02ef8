// Sabio's web app: the shell around its views (views/chat.js, kbs.js, sources.js,
// settings.js, accounts.js) over one small state store (store.js). No framework and no
// build step: the page is built with DOM calls (text is never parsed as HTML, except
// answers, which go through markdown.js with raw HTML off).
//
// The shell: starting (who is signed in), the sidebar (chats, search, navigation), the
// routes (#/new, #/chat/ID, #/kbs, #/kbs/ID, #/kbs/ID/sources, #/kbs/ID/security, #/kbs/ID/members,
// #/settings), the theme and the language, the connection banner and the shortcuts.
// A route shows its view or, when it cannot load, an empty page that says why; never
// the previous page's content.

import { api, ApiError, onUnauthorized, setCsrf } from "./api.js";
import { loadChats, loadKbs, loadModels } from "./data.js";
import { onReconnect, report, watchConnection } from "./errors.js";
import { getLang, t } from "./i18n.js";
import { installShortcuts, showShortcuts } from "./shortcuts.js";
import { set, state, watch } from "./store.js";
import { $, clearToasts, debounce, h, header, icon } from "./ui.js";
import { logo, showAuth, signOut } from "./views/accounts.js";
import { chatView, closeSource, deleteChat, newChatView, renameChat } from "./views/chat.js";
import { kbsView } from "./views/kbs.js";
import { applyTheme, settingsView } from "./views/settings.js";

let shown = { leave: null }; // the view on screen

function applyLang() {
  document.documentElement.lang = getLang();
  document.title = "Sabio";
  $("#source").setAttribute("aria-label", t("source"));
  $("#sidebar").setAttribute("aria-label", t("menu"));
}

matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);

async function start() {
  applyTheme();
  applyLang();
  watchConnection();
  installShortcuts();
  onUnauthorized(() => auth());
  onReconnect(() => (state.auth ? rerenderAll() : start()));
  $("[data-close-sidebar]").addEventListener("click", closeSidebar);
  window.addEventListener("hashchange", route);
  try {
    set({ auth: await api("GET", "/auth/status") });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) set({ auth: { auth: false, local: true, user: null } });
    else return; // the banner says Sabio cannot be reached, and retries
  }
  setCsrf(state.auth.csrf_token);
  if (state.auth.auth && !state.auth.user) return auth();
  await enter();
}

function auth() {
  shown.leave?.();
  shown = { leave: null };
  showAuth({ signedIn: enter, changed: () => (applyLang(), auth()) });
}

async function enter() {
  $("#auth").replaceChildren(); // no hidden sign-in form left behind
  $("#auth").hidden = true;
  $("#app").hidden = false;
  renderSidebar();
  await Promise.all([loadKbs(), loadChats(), loadModels()]).catch(report);
  await route();
}

function rerenderAll() {
  applyLang();
  if (!$("#auth").hidden) return auth();
  renderSidebar();
  Promise.all([loadKbs(), loadChats(), loadModels()]).catch(report).then(route);
}

// the sidebar

function renderSidebar() {
  const search = h("input.search", {
    type: "search",
    placeholder: t("searchChats"),
    "aria-label": t("searchChats"),
    value: state.chatQuery,
    oninput: debounce((e) => {
      set({ chatQuery: e.target.value });
      loadChats().catch(report);
    }, 250),
  });
  const user = state.auth && state.auth.user;
  $("#sidebar").replaceChildren(
    h("div.sidebar-top", {}, h("a.brand", { href: "#/new" }, logo(), "Sabio"), h("button.icon-button.only-phone", { type: "button", "aria-label": t("close"), onclick: closeSidebar }, icon("close"))),
    h("a.button.primary.new-chat", { href: "#/new", onclick: closeSidebar }, icon("plus"), t("newChat")),
    search,
    h("nav.chat-list", { id: "chat-list", "aria-label": t("chats") }),
    h(
      "div.sidebar-bottom",
      {},
      h("a.nav-link", { href: "#/kbs", onclick: closeSidebar, dataset: { view: "kbs" } }, icon("books"), t("knowledgeBases")),
      h("a.nav-link", { href: "#/settings", onclick: closeSidebar, dataset: { view: "settings" } }, icon("gear"), t("settings")),
      h("button.nav-link", { type: "button", onclick: showShortcuts }, icon("keyboard"), t("shortcuts")),
      state.auth && state.auth.local
        ? h("p.mode-note", {}, t("localMode"))
        : user
          ? h("div.user-row", {}, h("span", {}, user.name), h("button.icon-button", { type: "button", "aria-label": t("signOut"), title: t("signOut"), onclick: () => signOut(auth) }, icon("logout")))
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
        h("button.icon-button.small", { type: "button", "aria-label": `${t("rename")}: ${chat.title || t("untitled")}`, title: t("rename"), onclick: () => renameChat(chat) }, icon("edit")),
        h("button.icon-button.small", { type: "button", "aria-label": `${t("delete")}: ${chat.title || t("untitled")}`, title: t("delete"), onclick: () => deleteChat(chat) }, icon("trash")),
      ),
    ),
  );
}

watch(["chats", "chat"], renderChatList);

function closeSidebar() {
  document.body.classList.remove("sidebar-open");
}

// routing: one route at a time (a click during a slow page waits for it, instead of
// racing it and being drawn over)

let routing = Promise.resolve();

function route() {
  routing = routing.then(showRoute, showRoute);
  return routing;
}

async function showRoute() {
  const [, view, arg, tab] = (location.hash || "#/new").split("/");
  closeSource();
  clearToasts();
  shown.leave?.();
  shown = { leave: null };
  for (const link of document.querySelectorAll("a.nav-link")) link.toggleAttribute("aria-current", link.dataset.view === view);
  const main = $("#main");
  if (view !== "chat" || !state.chat || String(state.chat.id) !== arg) {
    if (view !== "new" && view) main.replaceChildren(header(t("loading")), h("div.page", {}, h("p.muted", { role: "status" }, t("loading"))));
  }
  try {
    if (view === "chat" && arg) shown = await chatView(main, Number(arg));
    else if (view === "kbs") shown = await kbsView(main, arg ? decodeURIComponent(arg) : null, tab);
    else if (view === "settings") shown = await settingsView(main, { changed: rerenderAll, signedOut: auth });
    else shown = newChatView(main);
  } catch (err) {
    if (view === "chat") set({ chat: null });
    couldNotLoad(main, err);
  }
}

// A route that could not load: an empty page that says why (the toast says it too,
// unless the banner already says the server is gone).
function couldNotLoad(main, err) {
  const offline = err instanceof ApiError && err.status === 0;
  if (!offline) report(err);
  const gone = err instanceof ApiError && (err.status === 404 || err.status === 403);
  main.replaceChildren(
    header(offline ? t("offlineTitle") : gone ? t("notHere") : t("loadFailed")),
    h("div.page", {}, h("p.muted", {}, offline ? t("offlineHelp") : gone ? t("notHereHelp") : t("error.unknown")), h("a.button", { href: "#/new" }, icon("plus"), t("newChat"))),
  );
}

start();
