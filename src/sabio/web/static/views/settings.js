// Settings: the interface (language, theme), the models and pulling one into Ollama
// (admins), your data (export, import, purge; admins), this computer's access or your
// account, and the users (admins).

import { api, eventError, stream } from "../api.js";
import { loadModels } from "../data.js";
import { describe, report, showError } from "../errors.js";
import { formatAgo, formatDateTime, formatSize, setLang, t } from "../i18n.js";
import { isAdmin, state } from "../store.js";
import { disclosure, field, h, header } from "../ui.js";
import { accountSection, usersSection } from "./accounts.js";
import { dataSection } from "./data.js";

export function applyTheme() {
  const choice = localStorage.getItem("sabio.theme") || "auto";
  const dark = choice === "dark" || (choice === "auto" && matchMedia("(prefers-color-scheme: dark)").matches);
  document.documentElement.dataset.theme = dark ? "dark" : "light";
}

// The Settings page into `main`; `changed()` redraws everything (a new language),
// `signedOut()` shows the sign-in form.
export async function settingsView(main, { changed, signedOut }) {
  const page = h("div.page");
  main.replaceChildren(header(t("settings")), page);
  page.append(interfaceSection(changed));
  if (isAdmin()) page.append(await modelSection(), await hostsSection(), pullSection(), await dataSection());
  page.append(state.auth.auth ? await accountSection(signedOut) : localSection());
  if (state.auth.auth && isAdmin()) page.append(await usersSection());
  return {};
}

function interfaceSection(changed) {
  const lang = h(
    "select",
    {
      onchange: (e) => {
        setLang(e.target.value || null);
        changed();
      },
    },
    h("option", { value: "", selected: !localStorage.getItem("sabio.lang") }, t("automatic")),
    h("option", { value: "es", lang: "es", selected: localStorage.getItem("sabio.lang") === "es" }, "Español"),
    h("option", { value: "en", lang: "en", selected: localStorage.getItem("sabio.lang") === "en" }, "English"),
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
  const ollama = h("input", { name: "ollama_host", value: settings.ollama_host, required: true });
  const options = (kind, current) => {
    const names = state.models.filter((m) => m.kind === kind && m.available).map((m) => m.name);
    if (current !== "auto" && !names.includes(current)) names.unshift(current);
    return [h("option", { value: "auto", selected: current === "auto" }, t("automatic")), ...names.map((n) => h("option", { value: n, selected: n === current }, n))];
  };
  const chat = h("select", { name: "chat_model" }, options("chat", settings.chat_model));
  const embedding = h("select", { name: "embedding_model" }, options("embedding", settings.embedding_model));
  const saved = h("span.muted", { role: "status" });
  const error = h("div.form-error", { role: "alert" });
  return h(
    "form.card",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        saved.textContent = "";
        error.replaceChildren();
        try {
          await api("PUT", "/settings", { ollama_host: ollama.value.trim(), chat_model: chat.value, embedding_model: embedding.value });
          saved.textContent = t("saved");
          await loadModels();
        } catch (err) {
          showError(error, err);
        }
      },
    },
    h("h2", {}, t("models")),
    h("p.muted", {}, t("modelsHelp")),
    h(
      "div.grid",
      {},
      field(t("ollamaUrl"), ollama, note("ollama_host") || t("ollamaUrlHelp")),
      field(t("chatModel"), chat, note("chat_model") || t("chatModelHelp")),
      field(t("embeddingModel"), embedding, note("embedding_model") || t("embeddingModelHelp")),
    ),
    error,
    h("div.actions", {}, h("button.primary", { type: "submit" }, t("save")), saved),
    state.models.filter((m) => !m.available && m.note).map((m) => h("div.backend-note", {}, unavailable(m), disclosure(m.note))),
  );
}

// "ollama:*" stands for every model of a backend that did not answer: say it in words.
function unavailable(model) {
  if (!model.name.endsWith(":*")) return t("modelUnavailable", { name: model.name });
  const backend = { ollama: "Ollama" }[model.backend] || model.backend;
  return t("backendUnavailable", { backend });
}

// The Ollama hosts as this server sees them: reachable or not, their models, its requests
// on each against ollama_parallel, and each one's latest error.
async function hostsSection() {
  const body = h("tbody");
  const status = h("div.form-error", { role: "alert" });
  const load = async () => {
    status.replaceChildren();
    try {
      body.replaceChildren(...(await api("GET", "/models/hosts")).map(hostRow));
    } catch (err) {
      showError(status, err);
    }
  };
  await load();
  const heads = ["host", "hostState", "hostModels", "hostBusy", "hostLastError"];
  return h(
    "section.card.hosts",
    {},
    h("h2", {}, t("hostsTitle")),
    h("p.muted", {}, t("hostsHelp")),
    h("div.table", {}, h("table", { "aria-label": t("hostsTitle") }, h("thead", {}, h("tr", {}, heads.map((k) => h("th", { scope: "col" }, t(k))))), body)),
    status,
    h("div.actions", {}, h("button", { type: "button", onclick: load }, t("hostsRefresh"))),
  );
}

function hostRow(host) {
  const state = host.reachable ? h("span.host-up", {}, t("hostUp")) : h("span.host-down", {}, t("hostDown"));
  const busy = host.limit ? t("hostBusyOf", { busy: host.busy, limit: host.limit }) : t("hostBusyNoLimit", { busy: host.busy });
  const waiting = host.waiting ? t("hostWaiting", { n: host.waiting }) : "";
  const own = host.error_key ? t(`error.${host.error_key}`, host.error_args) : null;
  const said = own && own !== `error.${host.error_key}` ? own : host.last_error;
  const error = host.last_error
    ? h("span", {}, h("time", { title: formatDateTime(host.failed_at) }, formatAgo(host.failed_at)), ": ", said)
    : h("span.muted", {}, t("hostNoError"));
  return h(
    "tr",
    {},
    h("th", { scope: "row" }, h("code", {}, host.url)),
    h("td.nowrap", {}, state),
    h("td", {}, host.models.length ? host.models.join(", ") : h("span.muted", {}, t("hostNoModels"))),
    h("td.nowrap", {}, busy, waiting ? ` · ${waiting}` : ""),
    h("td", {}, error),
  );
}

function pullSection() {
  const name = h("input", { name: "pull", placeholder: "qwen3:4b", required: true, "aria-label": t("modelName") });
  const bar = h("progress", { max: 1, value: 0, hidden: true, "aria-label": t("pullTitle") });
  const status = h("div.muted", { role: "status" });
  const fail = (err) => {
    bar.hidden = true;
    const { text, detail } = describe(err);
    status.replaceChildren(h("span.form-error", {}, text), detail ? disclosure(detail) : null);
  };
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
              fail(eventError(data));
            }
          }
        } catch (err) {
          fail(err);
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
  return h("section.card", {}, h("h2", {}, t("access")), h("p", {}, t("localModeHelp")), h("pre", { tabindex: 0 }, "sabio serve --auth --host 0.0.0.0"));
}
