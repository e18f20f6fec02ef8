// The chat: a new one or an open one, its answers as they stream (Markdown with citation
// chips, the sources under each), and what people expect of a chat app: copy an answer
// or a code block, answer again (every version kept, ‹ 1/2 › to browse), edit a
// question and send it again (the old branch kept), change the knowledge base or the
// model between questions, attach files in the chat box, export, rename and delete in
// real dialogs, and Stop, which stops the model on the server and marks the answer.
// "Only these documents" (views/only.js) keeps the answers to the documents ticked.
//
// Files attached in the chat box are indexed into the chat's knowledge base, as an upload
// on its page would be: its answers cite them with their pages, they stay for the chats
// that follow, and whoever manages the knowledge base sees and can remove them. (A
// chat-only space would need a second index per chat, searched beside the knowledge
// base's, and would leave answers citing files that nobody else can find.) So attaching
// needs write access to the chat's knowledge base, and a chat without one offers none.

import { API, ApiError, api, eventError, stream } from "../api.js";
import { chartView } from "../charts.js";
import { chatModels, defaultKb, defaultModelName, loadChats } from "../data.js";
import { confirmDialog, promptDialog, textDialog } from "../dialogs.js";
import { describe, report } from "../errors.js";
import { formatRoute, getLang, t } from "../i18n.js";
import { canWrite, kbByName, set, state } from "../store.js";
import { bindClaimMarks, currentStyle, renderAnswer, styleSelect } from "../support.js";
import { uploadQueue } from "../uploads.js";
import { adoptSelection, chosenDocuments, drawPicker, forgetNewSelection, restrictedNote, restrictedTo, tagMessage } from "./only.js";
import { $, copyButton, copyText, disclosure, h, header, icon, toast } from "../ui.js";

const live = { answer: null, draft: null, opener: null, typed: "" }; // what the chat holds now

// A new chat into `main`: it starts on the default knowledge base and the default model
// every time (never what the last one had), and says so in its box.
export function newChatView(main) {
  stopStreaming();
  set({ chat: null });
  live.draft = { kb: defaultKb(), model: "" };
  forgetNewSelection();
  main.replaceChildren(header(t("newChat"), pickers(null)), h("div.messages", { id: "messages" }, intro()), composer());
  $("#question").focus();
  return {};
}

function intro() {
  return h(
    "div.empty-chat",
    {},
    h("h2", {}, t("welcome")),
    h("p.muted", {}, state.kbs.length ? t("welcomeHelp") : t("welcomeNoKb")),
    !state.kbs.length && state.auth && (!state.auth.auth || (state.auth.user && state.auth.user.admin)) ? h("a.button", { href: "#/kbs" }, icon("upload"), t("addDocuments")) : null,
  );
}

// Chat `id` into `main`.
export async function chatView(main, id) {
  if (live.answer && state.chat && state.chat.id === id) return {}; // just created, streaming
  stopStreaming();
  const chat = await api("GET", `/chats/${id}`);
  set({ chat });
  drawChat(main);
  $("#question").focus();
  return {};
}

function drawChat(main) {
  const chat = state.chat;
  const messages = h("div.messages", { id: "messages", tabindex: -1 });
  main.replaceChildren(header(chat.title || t("untitled"), pickers(chat), chatActions(chat)), messages, composer());
  drawMessages(messages);
  messages.scrollTop = messages.scrollHeight;
}

function drawMessages(box = $("#messages")) {
  const chat = state.chat;
  box.replaceChildren();
  chat.messages.forEach((m, i) => {
    if (m.role === "user") box.append(questionView(m));
    else box.append(answerView({ ...m, text: m.content, error: m.complete || m.stopped ? null : t("incompleteSaved") }, chat.kb, m, i === chat.messages.length - 1));
  });
}

// The knowledge base and model pickers: a new chat's choices, or an open chat's, changed
// for the questions that follow.
function pickers(chat) {
  const current = chat ? (chat.kb ? kbByName(chat.kb)?.id ?? chat.kb : "") : live.draft.kb;
  const kbSelect = h(
    "select",
    { "aria-label": t("knowledgeBase"), onchange: (e) => choose({ kb: e.target.value || null }) },
    state.kbs.map((kb) => h("option", { value: kb.id, selected: kb.id === current }, kb.name)),
    chat && chat.kb && !chat.kb_available ? h("option", { value: current, selected: true, disabled: true }, t("kbDeleted", { kb: chat.kb })) : null,
    chat && chat.kb && chat.kb_available && !kbByName(chat.kb) ? h("option", { value: current, selected: true, disabled: true }, chat.kb) : null,
    h("option", { value: "", selected: current === "" }, t("noDocuments")),
  );
  const model = chat ? chat.model || "" : live.draft.model;
  const name = defaultModelName();
  const modelSelect = h(
    "select",
    { "aria-label": t("model"), onchange: (e) => choose({ model: e.target.value || null }) },
    h("option", { value: "", selected: !model }, name ? `${t("defaultModel")} (${name})` : t("defaultModel")),
    chatModels().map((m) => h("option", { value: m.name, selected: m.name === model }, m.name)),
    model && !chatModels().some((m) => m.name === model) ? h("option", { value: model, selected: true }, model) : null,
  );
  return h("div.chat-meta", {}, h("label.picker", {}, icon("books"), kbSelect), h("label.picker", {}, icon("chat"), modelSelect));
}

async function choose(change) {
  if (!state.chat) {
    if ("kb" in change) live.draft.kb = change.kb || "";
    if ("model" in change) live.draft.model = change.model || "";
    refreshComposer();
    return;
  }
  try {
    const updated = await api("PATCH", `/chats/${state.chat.id}`, change);
    set({ chat: { ...state.chat, ...updated } });
    refreshComposer();
  } catch (err) {
    report(err);
    drawChat($("#main"));
  }
}

function chatActions(chat) {
  const base = `${API}/chats/${chat.id}/export`;
  const lang = getLang();
  return h(
    "div.chat-actions",
    {},
    h("button.icon-button", { type: "button", "aria-label": t("rename"), title: t("rename"), onclick: () => renameChat(chat) }, icon("edit")),
    exportMenu(base, lang),
    h("button.icon-button", { type: "button", "aria-label": t("deleteChat"), title: t("deleteChat"), onclick: () => deleteChat(chat) }, icon("trash")),
  );
}

// "Download": a small menu of the two formats (Esc or a click elsewhere closes it).
function exportMenu(base, lang) {
  const items = h(
    "div.menu-items",
    { hidden: true },
    h("a", { href: `${base}?format=markdown&lang=${lang}`, download: "" }, t("exportMarkdown")),
    h("a", { href: `${base}?format=json`, download: "" }, t("exportJson")),
  );
  const toggle = (open) => {
    items.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
  };
  const button = h("button.icon-button", { type: "button", "aria-label": t("export"), title: t("export"), "aria-haspopup": "true", "aria-expanded": "false", onclick: () => toggle(items.hidden) }, icon("download"));
  const menu = h("div.menu", { onkeydown: (e) => e.key === "Escape" && !items.hidden && (e.preventDefault(), toggle(false), button.focus()) }, button, items);
  document.addEventListener("click", (e) => !menu.contains(e.target) && toggle(false));
  items.addEventListener("click", () => setTimeout(() => toggle(false)));
  return menu;
}

export async function renameChat(chat) {
  const title = await promptDialog({ title: t("renameChat"), label: t("chatTitle"), value: chat.title || "", confirmLabel: t("rename") });
  if (!title || title === chat.title) return;
  try {
    await api("PATCH", `/chats/${chat.id}`, { title });
    if (state.chat && state.chat.id === chat.id) {
      set({ chat: { ...state.chat, title } });
      $("#page-title").textContent = title;
    }
    await loadChats();
  } catch (err) {
    report(err);
  }
}

export async function deleteChat(chat) {
  const sure = await confirmDialog({ title: t("deleteChat"), message: t("deleteChatConfirm", { title: chat.title || t("untitled") }), confirmLabel: t("delete") });
  if (!sure) return;
  try {
    await api("DELETE", `/chats/${chat.id}`);
    await loadChats();
    if (state.chat && state.chat.id === chat.id) location.hash = "#/new";
  } catch (err) {
    report(err);
  }
}

// the box at the bottom: attached files, the question, Send (Stop while it answers)

const chatKey = () => (state.chat ? String(state.chat.id) : "new");
const chatKb = () => (state.chat ? (state.chat.kb && state.chat.kb_available ? kbByName(state.chat.kb) : null) : kbByName(live.draft.kb));

function composer() {
  const question = h("textarea", {
    id: "question",
    rows: 1,
    maxlength: 20000,
    oninput: (e) => {
      live.typed = e.target.value; // kept when the page is drawn again (back online)
      autosize(e.target);
    },
    onkeydown: (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        send();
      }
    },
  });
  question.value = live.typed;
  const button = h("button.primary.send", { id: "send", type: "button", onclick: () => (live.answer ? stopAnswer() : send()) }, icon("send"));
  const attachments = h("div.attachments", { id: "attachments" });
  const only = [h("div.only-panel", { id: "only-panel", hidden: true }), h("div", { id: "only-chosen" })];
  const box = h("div.composer", {}, attachments, ...only, h("div.composer-row", {}, h("span", { id: "attach-slot" }), h("span", { id: "only-slot" }), question, styleSelect(), button));
  setTimeout(refreshComposer);
  return box;
}

// The box says what it will do: ask the documents, or the model alone; the clip shows
// only where files may be added.
function refreshComposer() {
  const area = $("#question");
  if (!area) return;
  const kb = chatKb();
  const label = kb ? t("askPlaceholder", { kb: kb.name }) : t("askModelPlaceholder");
  area.placeholder = label;
  area.setAttribute("aria-label", label);
  setSending(Boolean(live.answer));
  const onlySlot = $("#only-slot");
  if (onlySlot) drawPicker(onlySlot, onlySlot.closest(".composer"), chatKey, kb);
  const slot = $("#attach-slot");
  if (!slot) return;
  if (!kb || !canWrite(kb)) {
    slot.replaceChildren();
    return;
  }
  const input = h("input", { type: "file", multiple: true, hidden: true, onchange: (e) => attach(kb, Array.from(e.target.files)) });
  slot.replaceChildren(h("button.icon-button.attach", { type: "button", "aria-label": t("attachFiles", { kb: kb.name }), title: t("attachFiles", { kb: kb.name }), onclick: () => input.click() }, icon("clip")), input);
}

function attach(kb, files) {
  const box = $("#attachments");
  let queue = box.queue;
  if (!queue || queue.kb !== kb.id) {
    queue = uploadQueue(kb, { compact: true });
    queue.kb = kb.id;
    box.queue = queue;
    box.replaceChildren(h("p.muted.small", {}, t("attachedTo", { kb: kb.name })), queue.element);
  }
  queue.enqueue(files);
}

function autosize(area) {
  area.style.height = "auto";
  area.style.height = `${Math.min(area.scrollHeight, 240)}px`;
}

function setSending(on) {
  const button = $("#send");
  if (!button) return;
  button.replaceChildren(icon(on ? "stop" : "send"));
  button.setAttribute("aria-label", on ? t("stop") : t("send"));
  button.title = on ? `${t("stop")} (Esc)` : t("send");
}

// messages

function versions(message, onPick) {
  const list = message.versions || [];
  if (list.length < 2) return null;
  const at = list.indexOf(message.id);
  return h(
    "span.versions",
    { role: "group", "aria-label": t("versions") },
    h("button.icon-button.small", { type: "button", "aria-label": t("previousVersion"), title: t("previousVersion"), disabled: at <= 0, onclick: () => onPick(list[at - 1]) }, icon("left")),
    h("span.muted", {}, t("versionNofM", { n: at + 1, m: list.length })),
    h("button.icon-button.small", { type: "button", "aria-label": t("nextVersion"), title: t("nextVersion"), disabled: at >= list.length - 1, onclick: () => onPick(list[at + 1]) }, icon("right")),
  );
}

async function showVersion(messageId) {
  try {
    const chat = await api("PUT", `/chats/${state.chat.id}/branch`, { message_id: messageId });
    set({ chat });
    drawMessages();
  } catch (err) {
    report(err);
  }
}

function questionView(message) {
  const bubble = h("div.bubble", {}, message.content);
  const el = h("div.message.user", { dataset: { id: String(message.id) } }, bubble, restrictedNote(message.only || restrictedTo(message.id)));
  const edit = () => {
    const area = h("textarea", { rows: 3, maxlength: 20000, "aria-label": t("editQuestion") }, message.content);
    area.value = message.content;
    const form = h(
      "form.edit-question",
      {
        onsubmit: (e) => {
          e.preventDefault();
          const text = area.value.trim();
          if (text) send(text, message.id);
        },
      },
      area,
      h("div.actions", {}, h("button", { type: "button", onclick: () => drawMessages() }, t("cancel")), h("button.primary", { type: "submit" }, t("sendEdited"))),
    );
    el.replaceChildren(form);
    area.focus();
  };
  el.append(h("div.message-actions", {}, versions(message, showVersion), live.answer ? null : h("button.icon-button.small", { type: "button", "aria-label": t("editQuestion"), title: t("editQuestion"), onclick: edit }, icon("edit"))));
  return el;
}

// An answer: Markdown with citation chips, its sources, whether it stopped or broke off,
// how it was made (its route), and its actions. `answer`: {text, citations, complete, stopped, error}; `message` (the
// saved one, or null while streaming) gives the actions. Returns the element, with
// .update(answer) for streaming.
function answerView(answer, kb, message = null, last = false) {
  const body = h("div.answer-text");
  const chart = h("div.answer-chart");
  let shownSvg = "";
  const sources = h("div.sources");
  const status = h("p.answer-status");
  const actions = h("div.message-actions");
  const said = h("ul.answer-notes"); // a pinned answer served, which is newer, keywords only…
  const how = h("p.answer-route"); // top-k passages, the whole document or map-reduce, by counted tokens
  const el = h("div.message.assistant", { dataset: message ? { id: String(message.id) } : {} }, body, chart, status, sources, said, how, actions);
  bindClaimMarks(body);
  el.update = (a) => {
    const byNumber = new Map((a.citations || []).map((c) => [c.number, c]));
    body.innerHTML = renderAnswer(a, (n) => (byNumber.has(n) ? chipHtml(byNumber.get(n)) : null));
    for (const chip of body.querySelectorAll("button.cite")) {
      chip.addEventListener("click", () => openSource(byNumber.get(Number(chip.dataset.n)), kb, chip));
    }
    for (const pre of body.querySelectorAll("pre")) {
      pre.prepend(copyButton(() => pre.querySelector("code").textContent, pre.querySelector("code"), { label: t("copyCode"), compact: true }));
    }
    const svg = a.chart || a.computation?.chart_svg; // saved, or as it arrived
    if ((svg || "") !== shownSvg) chart.replaceChildren(...(svg ? [chartView(svg)] : []));
    shownSvg = svg || "";
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
            placeLabel(c) ? h("span.cite-page", {}, placeLabel(c)) : null,
            c.inferred ? h("span.inferred", { title: t("inferredHelp") }, t("inferred")) : null,
          ),
        ),
      );
    }
    const notes = a.notes || [];
    const pinned = notes.some((n) => n.startsWith("pinned answer") || n.startsWith("respuesta fijada"));
    said.replaceChildren(pinned ? h("li", {}, h("span.badge.pinned", {}, t("pinnedServed"))) : "", ...notes.map((n) => h("li", {}, n)));
    said.hidden = !notes.length;
    const route = formatRoute(a.route);
    how.textContent = route ? t("route.answer", { route }) : "";
    how.hidden = !route;
    const byReader = a.stopped === true || a.stopped === "user"; // "length", "repetition": incomplete
    el.classList.toggle("stopped", byReader);
    if (byReader) status.replaceChildren(h("span.badge.stopped", {}, t("stoppedMark")), " ", t("stoppedHelp"));
    else if (a.complete === false) status.replaceChildren(t("incomplete"), a.error ? disclosure(a.error) : null);
    else status.replaceChildren();
    status.hidden = !byReader && a.complete !== false;
  };
  el.update(answer);
  if (message) {
    const only = restrictedNote(restrictedTo(message.id), "answeredOnlyFrom");
    if (only) status.after(only);
    actions.append(
      ...[
        versions(message, showVersion),
        copyButton(() => message.content, body, { label: t("copyAnswer"), compact: true }),
        h("button.icon-button.small", { type: "button", "aria-label": t("regenerate"), title: t("regenerate"), onclick: () => regenerate(message) }, icon("refresh")),
        ...feedbackButtons(message, kb),
      ].filter(Boolean),
    );
    if (last) el.classList.add("last");
  }
  return el;
}

// What a reader says of an answer: 👍, 👎 and, over a knowledge base, Correct, whose text
// becomes a note of it that later answers to the question (in other words, in either
// language) quote first and cite as "Correction by ana, 2026-12-03".
function feedbackButtons(message, kb) {
  const rate = (rating) => async (e) => {
    const button = e.currentTarget;
    try {
      await api("POST", `/chats/${state.chat.id}/messages/${message.id}/feedback`, { rating });
      for (const b of button.parentElement.querySelectorAll("button.rate")) b.setAttribute("aria-pressed", String(b === button));
      toast(t("feedbackThanks"), "info");
    } catch (err) {
      report(err);
    }
  };
  const rateButton = (rating, name) =>
    h("button.icon-button.small.rate", { type: "button", "aria-pressed": "false", "aria-label": t(name), title: t(name), onclick: rate(rating) }, icon(name));
  const buttons = [rateButton("up", "thumbUp"), rateButton("down", "thumbDown")];
  if (kb) {
    buttons.push(
      h("button.button.small.correct", { type: "button", onclick: () => correct(message) }, icon("edit"), t("correct")),
      h("button.icon-button.small.pin", { type: "button", "aria-label": t("pin"), title: t("pinHelp"), onclick: (e) => pin(message, e.currentTarget) }, icon("pin")),
    );
  }
  return buttons;
}

async function pin(message, button) {
  try {
    await api("POST", `/chats/${state.chat.id}/messages/${message.id}/feedback`, { rating: "up", pin: true });
    button.setAttribute("aria-pressed", "true");
    toast(t("pinnedNow"), "info");
  } catch (err) {
    report(err);
  }
}

async function correct(message) {
  const text = await textDialog({ title: t("correctTitle"), label: t("correctLabel"), help: t("correctHelp"), confirmLabel: t("correctSave") });
  if (!text) return;
  try {
    const note = await api("POST", `/chats/${state.chat.id}/messages/${message.id}/feedback`, { rating: "down", correction: text });
    toast(t(note.status === "active" ? "correctionSaved" : "correctionPending"), "info");
  } catch (err) {
    report(err);
  }
}

// Recordings: a passage's page is the second it starts at (formats.py's timed formats;
// tests/test_audio.py checks that this list is theirs).
const RECORDING = /\.(mp3|wav|ogg|oga|opus|flac|webm|m4a|mp4)$/i;

function isRecording(name) {
  return RECORDING.test(name || "");
}

function clock(seconds) {
  const s = Math.floor(seconds);
  const hms = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const pad = (n) => String(n).padStart(2, "0");
  return hms[0] ? `${hms[0]}:${pad(hms[1])}:${pad(hms[2])}` : `${hms[1]}:${pad(hms[2])}`;
}

// "p. 3", "at 12:34", or null where the passage has no place.
function placeLabel(c) {
  if (c.page === null || c.page === undefined) return null;
  if (isRecording(c.document)) return t("atTime", { t: clock(c.page) });
  return c.page ? t("pageN", { n: c.page }) : null;
}

// The recording, ready to play from the passage's second.
function player(url, seconds) {
  const audio = h("audio.source-player", { controls: true, preload: "metadata", src: url, "aria-label": t("playFrom", { t: clock(seconds) }) });
  audio.addEventListener("loadedmetadata", () => { audio.currentTime = seconds; }, { once: true });
  return h("div.source-play", {}, h("button.button.small", { type: "button", onclick: () => { audio.currentTime = seconds; audio.play(); } }, t("playFrom", { t: clock(seconds) })), audio);
}

// The recording's transcript to download: plain text with times, or subtitles.
function transcriptLinks(kb, documentId) {
  const url = (format) => `${API}/kbs/${encodeURIComponent(kb)}/documents/${documentId}/transcript?format=${format}`;
  const link = (format) => h("a.transcript-link", { href: url(format), download: "", title: t("transcriptAs", { format: format.toUpperCase() }) }, format.toUpperCase());
  return h("p.source-transcript.small", {}, icon("file"), ` ${t("transcript")}: `, link("txt"), " · ", link("srt"), " · ", link("vtt"));
}

function chipHtml(c) {
  const where = `${c.title || c.document}${placeLabel(c) ? `, ${placeLabel(c)}` : ""}`;
  const escaped = where.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return `<button type="button" class="cite" data-n="${c.number}" title="${escaped}" aria-label="${t("source")} ${c.number}: ${escaped}">${c.number}</button>`;
}

// asking

// Send the question in the box (or `text`, replacing question `editOf`).
async function send(text = null, editOf = null) {
  const area = $("#question");
  const question = (text ?? area.value).trim();
  if (!question || live.answer) return;
  try {
    if (!state.chat) {
      const created = await api("POST", "/chats", { kb: live.draft.kb || null, model: live.draft.model || null });
      set({ chat: { ...created, messages: [] } });
      adoptSelection(created.id);
      history.replaceState(null, "", `#/chat/${created.id}`);
      $(".empty-chat")?.remove();
      const head = $(".main-header");
      head.replaceWith(header(t("untitled"), pickers(state.chat), chatActions(state.chat)));
    }
  } catch (err) {
    report(err);
    return;
  }
  if (text === null) {
    area.value = live.typed = "";
    autosize(area);
  }
  const messages = $("#messages");
  if (editOf !== null) {
    // the edited question and what followed it give way to the new branch
    const at = [...messages.children].findIndex((el) => el.dataset.id === String(editOf));
    while (messages.children.length > at && at >= 0) messages.lastElementChild.remove();
  }
  const only = chosenDocuments(chatKey(), chatKb());
  messages.append(questionView({ id: 0, content: question, versions: [], only: only?.names }));
  const body = { question, edit_of: editOf, style: currentStyle() || null, documents: only?.documents };
  await streamAnswer(`/chats/${state.chat.id}/messages`, body, question, text === null ? question : null, only && { role: "user", names: only.names });
}

async function regenerate(message) {
  if (live.answer) return;
  const messages = $("#messages");
  const at = [...messages.children].findIndex((el) => el.dataset.id === String(message.id));
  while (messages.children.length > at && at >= 0) messages.lastElementChild.remove();
  const only = chosenDocuments(chatKey(), chatKb());
  const body = { message_id: message.id, style: currentStyle() || null, documents: only?.documents };
  await streamAnswer(`/chats/${state.chat.id}/regenerate`, body, null, null, only && { role: "assistant", names: only.names });
}

// Stream one answer into the chat; `restore`: the question to put back in the box if
// it never reached the server; `only`: {role, names} when it was restricted to some
// documents (the saved message of that role says so).
async function streamAnswer(path, body, question, restore, only = null) {
  const messages = $("#messages");
  const chat = state.chat;
  const controller = new AbortController();
  const answer = { text: "", citations: [], complete: true, stopped: false };
  const view = answerView(answer, chat.kb);
  view.classList.add("streaming");
  const waiting = h("p.waiting", { role: "status" }, h("span.dots", { "aria-hidden": "true" }), chat.kb ? t("searching") : t("thinking"));
  view.prepend(waiting);
  messages.append(view);
  scrollDown(messages, true);
  if (only) only.after = Math.max(0, ...(chat.messages || []).map((m) => m.id)); // what is new
  live.answer = { controller, chatId: chat.id, view };
  setSending(true);
  for (const b of messages.querySelectorAll(".message-actions button")) b.disabled = true;
  let scheduled = false;
  const draw = () => {
    scheduled = false;
    view.update(answer);
    scrollDown(messages);
  };
  let reached = false;
  try {
    for await (const { event, data } of stream(path, body, controller.signal)) {
      reached = true;
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
        const { text } = describe(eventError(data));
        Object.assign(answer, { complete: false, error: text });
      }
    }
  } catch (err) {
    const offline = err instanceof ApiError && err.status === 0;
    // never sent, or the server went away meanwhile: the question back in the box
    if ((!reached || offline) && restore !== null && !$("#question").value) $("#question").value = live.typed = restore;
    if (err.name !== "AbortError") {
      if (!offline) report(err);
      Object.assign(answer, { complete: false, error: offline ? t("error.network") : describe(err).text });
      if (!reached) view.remove();
    }
  } finally {
    live.answer = null;
    waiting.remove();
    view.classList.remove("streaming");
    view.update(answer);
    setSending(false);
  }
  await afterAnswer(chat.id, only);
}

// Once an answer ended: the chat as saved (ids for the actions, versions), and the
// sidebar's list (the first question titles the chat); `only`: see streamAnswer.
async function afterAnswer(chatId, only = null) {
  try {
    await loadChats();
    if (!state.chat || state.chat.id !== chatId) return;
    const saved = await api("GET", `/chats/${chatId}`);
    const made = only && saved.messages.filter((m) => m.role === only.role).pop();
    if (made && made.id > only.after) tagMessage(made.id, only.names);
    set({ chat: saved });
    $("#page-title").textContent = saved.title || t("untitled");
    const box = $("#messages");
    const near = box.scrollHeight - box.scrollTop - box.clientHeight < 160;
    drawMessages(box);
    if (near) box.scrollTop = box.scrollHeight;
  } catch (err) {
    report(err);
  }
}

// Stop the answer being made: the server stops the model and ends the stream with what
// was shown, marked stopped; if the server cannot be told, the stream is dropped.
export async function stopAnswer() {
  const running = live.answer;
  if (!running) return false;
  try {
    const told = await api("POST", `/chats/${running.chatId}/stop`);
    if (!told.stopped) running.controller.abort();
  } catch {
    running.controller.abort();
  }
  return true;
}

// Leaving the chat drops an answer's stream: the server stops the model and saves what it
// had made, marked interrupted.
function stopStreaming() {
  live.answer?.controller.abort();
  live.answer = null;
  closeSource();
}

function scrollDown(box, force = false) {
  const near = box.scrollHeight - box.scrollTop - box.clientHeight < 160;
  if (force || near) box.scrollTop = box.scrollHeight;
}

// for the keyboard shortcuts

export function focusQuestion() {
  $("#question")?.focus();
}

export function copyLastAnswer() {
  const last = [...(state.chat?.messages || [])].reverse().find((m) => m.role === "assistant");
  if (last) copyText(last.content);
  return Boolean(last);
}

export function copyLastCode() {
  const codes = document.querySelectorAll("#messages .message.assistant pre code");
  const code = codes[codes.length - 1];
  if (code) copyText(code.textContent, code);
  return Boolean(code);
}

// the source panel: the cited passage highlighted in its surroundings, and the original

async function openSource(citation, kbName, opener) {
  const panel = $("#source");
  for (const el of document.querySelectorAll(".cite.active, .source-chip.active")) el.classList.remove("active");
  opener?.classList.add("active");
  live.opener = opener || null;
  panel.hidden = false;
  document.body.classList.add("source-open");
  const title = citation.title || citation.document;
  const content = h("div.source-body", { tabindex: 0, role: "region", "aria-label": t("passage") }, h("p.muted", {}, t("loading")));
  const where = h("div.source-where", {}, h("h2", {}, `[${citation.number}] ${title}`), h("p.muted", {}, [citation.document !== title && !citation.document.startsWith("note:") ? citation.document : null, placeLabel(citation)].filter(Boolean).join(" · ")));
  panel.replaceChildren(h("div.source-head", {}, where, h("button.icon-button", { type: "button", "aria-label": t("close"), title: t("close"), onclick: closeSource }, icon("close"))), content);
  panel.focus();
  const kb = kbName ? kbByName(kbName) : null;
  if (!kbName) {
    content.replaceChildren(h("p", {}, citation.snippet));
    return;
  }
  try {
    const p = await api("GET", `/kbs/${encodeURIComponent(kb ? kb.id : kbName)}/passages/${citation.chunk_id}`);
    const mark = h("mark", {}, p.text);
    if (p.file_url && isRecording(citation.document)) where.append(player(p.file_url, p.page || 0));
    if (isRecording(citation.document)) where.append(transcriptLinks(kb ? kb.id : kbName, p.document_id));
    else if (p.file_url) where.append(h("a.button.small", { href: p.file_url, target: "_blank", rel: "noopener" }, icon("file"), p.page ? t("openAtPage", { n: p.page }) : t("openOriginal")));
    content.replaceChildren(...(p.heading ? [h("p.passage-heading", {}, p.heading)] : []), h("div.passage", {}, p.before ? h("span.context", {}, p.before) : null, mark, p.after ? h("span.context", {}, p.after) : null));
    mark.scrollIntoView({ block: "start" });
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) report(err);
    content.replaceChildren(h("p.muted", {}, t("passageGone")), h("blockquote", {}, citation.snippet));
  }
}

// Close the panel; focus goes back to the citation that opened it.
export function closeSource() {
  const panel = $("#source");
  if (!panel || panel.hidden) return false;
  panel.hidden = true;
  document.body.classList.remove("source-open");
  for (const el of document.querySelectorAll(".cite.active, .source-chip.active")) el.classList.remove("active");
  if (live.opener && live.opener.isConnected) live.opener.focus();
  live.opener = null;
  return true;
}

export const answering = () => Boolean(live.answer);
