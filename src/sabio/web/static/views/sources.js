// A knowledge base's sources (a watched folder, a mailbox, a web page, a feed, a sitemap,
// a webhook), kept current by the server's worker: what each one brought, why some items
// were not indexed, the sync in progress; adding, syncing and removing them (admins).
//
// Nothing is polled: the knowledge base's page listens to the server's events for it
// (views/kbs.js) and calls refresh() when its documents or its sources' syncs changed.
//
// The kinds of source, their options and flags come from the server (GET
// /source-kinds): the form is drawn from each kind's options schema, its words from
// i18n.js (kind.*, option.*, optionHelp.*), falling back to the server's English.

import { API, api, ApiError } from "../api.js";
import { report, showError } from "../errors.js";
import { formatAgo, formatDateTime, t } from "../i18n.js";
import { copyButton, disclosure, field, h, icon, nodes, statusBadge, statusReason, toast } from "../ui.js";

const ICONS = { folder: "folder", imap: "mail", url: "globe", feed: "feed", sitemap: "sitemap", webhook: "webhook" };
const INTERVALS = [900, 3600, 21600, 86400];
// failures first, then what needs the user, then the rest
const ORDER = ["failed", "encrypted", "needs_ocr", "skipped", "removed", "indexed", "unchanged"];

// "needs OCR" (the API's label) → "needs_ocr" (the key of its texts and styles)
const statusKey = (label) => label.toLowerCase().replace(/ /g, "_");
const busy = (job) => Boolean(job && (job.status === "queued" || job.status === "running"));
// A text of the catalogue, or `fallback` (the server's words) when it has none.
const tOr = (key, fallback) => (t(key) === key ? fallback : t(key));
let known = new Map(); // kind name → its declaration (GET /source-kinds)
const kindLabel = (kind) => tOr(`kind.${kind}`, kind);
const declared = (kind) => known.get(kind) || { kind, location: "name", fetches: true, scheduled: false, watchable: false, options: {} };

// The Sources tab of knowledge base `kb` ({id, name}): {element, refresh}. `admin`: may
// add, sync and remove.
export async function sourcesView(kb, { admin }) {
  const cards = new Map(); // source id → its card
  const list = h("div.kb-source-list");
  const empty = h("p.muted", {}, t("noSources"));
  let latest = 0;
  known = new Map((await api("GET", "/source-kinds")).map((k) => [k.kind, k]));

  const refresh = async () => {
    const mine = ++latest;
    const sources = await api("GET", `/sources?kb=${encodeURIComponent(kb.id)}`);
    if (mine !== latest) return; // a newer refresh is drawing
    draw(sources);
    await Promise.all([...cards.values()].map((card) => card.refreshItems()));
  };
  const again = () => refresh().catch(report);
  const draw = (sources) => {
    for (const [id, card] of cards) {
      if (!sources.some((s) => s.id === id)) {
        card.remove();
        cards.delete(id);
      }
    }
    sources.forEach((source, index) => {
      let card = cards.get(source.id);
      if (!card) {
        card = sourceCard(source, { admin, refresh: again });
        cards.set(source.id, card);
      }
      card.update(source);
      if (list.children[index] !== card) list.insertBefore(card, list.children[index] || null);
    });
    empty.hidden = sources.length > 0;
  };

  const form = admin ? sourceForm(kb, again) : null;
  const element = h(
    "div.kb-sources",
    {},
    h("p.muted", {}, t("sourcesHelp")),
    empty,
    list,
    admin ? form : h("p.muted.kb-source-note", {}, t("sourcesAdminOnly")),
  );
  await refresh();
  if (form && !cards.size) form.open = true;
  return { element, refresh };
}

// One source: kind, location, last sync, counts, the sync in progress, its last error,
// and (opened) its items and recent syncs. Returns the element, with .update(source)
// and .refreshItems() (which loads the items only while they are shown).
function sourceCard(first, { admin, refresh }) {
  let source = first;
  const id = first.id;
  const meta = h("p.muted.kb-source-meta");
  const counts = h("div.kb-source-counts");
  const job = h("div.kb-source-job");
  const error = h("div.kb-source-error", { role: "alert" });
  const webhookUrl = first.kind === "webhook" ? `${location.origin}${API}/sources/${id}/webhook` : null;
  const hook = webhookUrl ? h("p.kb-source-hook", {}, h("span.muted", {}, `${t("webhookUrl")}: `), h("code", {}, webhookUrl)) : null;
  const items = h("div.kb-source-items");
  const summary = h("summary");
  const details = h("details.kb-source-details", { ontoggle: () => details.open && card.refreshItems().catch(report) }, summary, items);
  const syncButton = h("button", { type: "button", onclick: () => syncNow() }, icon("sync"), t("syncNow"));
  const confirmBox = h("div.kb-source-confirm", { hidden: true });
  const removeButton = h("button.danger", { type: "button", onclick: () => askRemove() }, icon("trash"), t("remove"));

  const syncNow = async () => {
    syncButton.disabled = true;
    try {
      await api("POST", `/sources/${id}/sync`);
    } catch (err) {
      report(err);
    }
    refresh();
  };
  const askRemove = () => {
    const withDocs = h("input", { type: "checkbox", checked: true });
    confirmBox.hidden = false;
    removeButton.disabled = true;
    const cancel = () => {
      confirmBox.hidden = true;
      confirmBox.replaceChildren();
      removeButton.disabled = false;
    };
    confirmBox.replaceChildren(
      h("p", {}, t("removeSourceConfirm", { name: source.location || kindLabel(source.kind) })),
      h("label.check", {}, withDocs, t("removeSourceDocs")),
      h(
        "div.actions",
        {},
        h(
          "button.danger",
          {
            type: "button",
            onclick: async () => {
              try {
                await api("DELETE", `/sources/${id}?keep_documents=${!withDocs.checked}`);
                toast(t("sourceRemoved"), "info");
              } catch (err) {
                report(err);
                cancel();
              }
              refresh();
            },
          },
          t("removeSource"),
        ),
        h("button", { type: "button", onclick: cancel }, t("cancel")),
      ),
    );
  };

  const card = h(
    "article.kb-source",
    { dataset: { kind: first.kind, id: String(id) } },
    h(
      "div.kb-source-head",
      {},
      h("span.kb-source-icon", { title: kindLabel(first.kind) }, icon(ICONS[first.kind] || "file")),
      h("div.kb-source-title", {}, h("strong", {}, kindLabel(first.kind)), h("div.kb-source-location", {}, first.location || kindLabel(first.kind))),
      admin ? h("div.actions", {}, declared(first.kind).fetches ? syncButton : null, removeButton) : null, // a webhook has nothing to fetch
    ),
    meta,
    hook,
    counts,
    job,
    error,
    confirmBox,
    details,
  );

  card.update = (fresh) => {
    source = fresh;
    const running = busy(fresh.job);
    card.dataset.job = fresh.job ? fresh.job.status : "";
    meta.replaceChildren(...metaParts(fresh));
    counts.replaceChildren(...countBadges(fresh.counts));
    job.replaceChildren(...jobLine(fresh.job));
    error.hidden = !fresh.last_error;
    error.replaceChildren(h("strong", {}, t("lastError")), " ", fresh.last_error ? disclosure(fresh.last_error) : null);
    syncButton.disabled = running;
    syncButton.replaceChildren(icon("sync"), running ? t(fresh.job.status === "queued" ? "syncQueued" : "syncing") : t("syncNow"));
    const total = Object.values(fresh.counts).reduce((a, b) => a + b, 0);
    summary.textContent = t("itemsN", { n: total });
  };
  card.refreshItems = async () => {
    if (!details.open) return;
    const detail = await api("GET", `/sources/${id}`);
    const more = detail.items_total - detail.items.length; // the server sends those needing a look first
    items.replaceChildren(...nodes([itemList(detail.items), more > 0 ? h("p.muted.small", {}, t("moreItems", { n: more })) : null, recentJobs(detail.jobs)]));
  };
  return card;
}

function metaParts(source) {
  const parts = [`${t("knowledgeBase")}: ${source.kb}`];
  const synced = source.last_sync_at ? h("span", { title: formatDateTime(source.last_sync_at) }, t("lastSync", { when: formatAgo(source.last_sync_at) })) : t("neverSynced");
  const kind = declared(source.kind);
  parts.push(kind.fetches ? synced : t("webhookWaits"));
  if (source.next_sync_at && kind.scheduled) parts.push(h("span", { title: formatDateTime(source.next_sync_at) }, t("nextSync", { when: formatAgo(source.next_sync_at) })));
  if (kind.watchable && kind.location === "folder") parts.push(t("watched"));
  if (source.password_set) parts.push(t("passwordSet"));
  return parts.flatMap((part, i) => (i ? [" · ", part] : [part]));
}

// "3 indexed · 1 skipped": what the source's items are now. Items indexed by an earlier
// sync and unchanged since are indexed too (the last sync's own tally is its message).
function countBadges(counts) {
  const merged = {};
  for (const [label, n] of Object.entries(counts)) {
    const key = statusKey(label) === "unchanged" ? "indexed" : statusKey(label);
    merged[key] = (merged[key] || 0) + n;
  }
  const order = ["indexed", ...ORDER.filter((key) => key !== "indexed")];
  const keys = [...order.filter((key) => merged[key]), ...Object.keys(merged).filter((key) => !order.includes(key))];
  return keys.map((key) => {
    const text = t(`count.${key}`, { n: merged[key] });
    return h(`span.badge.${key}`, {}, text === `count.${key}` ? `${merged[key]} ${key}` : text);
  });
}

// The sync in progress (a bar, done/total, its message), or the last one's outcome.
function jobLine(job) {
  if (!job) return [];
  if (busy(job)) {
    const bar = h("progress", { max: job.total || 1 });
    if (job.total) bar.value = job.done;
    const text = job.status === "queued" ? t("syncQueued") : job.total ? `${job.done}/${job.total}` : t("syncing"); // the server's own words: the title
    return [bar, h("span.muted", { role: "status", title: job.message || null }, text), job.error ? h("span.kb-source-retry", {}, t("retrying"), disclosure(job.error)) : null];
  }
  const when = job.finished_at ? formatAgo(job.finished_at) : "";
  if (job.status === "failed") return [h("span.kb-source-failed", {}, t("syncFailed", { when })), disclosure(job.error || job.message)];
  return [h("span.muted", { title: formatDateTime(job.finished_at) }, t("syncDone", { when, message: jobOutcome(job) }))];
}

// What a finished sync did, in the interface's language (the server's message is English).
function jobOutcome(job) {
  const counts = Object.entries(job.counts || {});
  if (!counts.length) return t("outcome.nothing");
  return counts.map(([outcome, n]) => t(`outcome.${outcome}`, { n })).join(", ");
}

// A source's items, failures first, each with its status, what it means, why, and when.
function itemList(items) {
  if (!items.length) return h("p.muted", {}, t("noItems"));
  const rank = (item) => {
    const i = ORDER.indexOf(statusKey(item.status));
    return i < 0 ? ORDER.length : i;
  };
  const sorted = [...items].sort((a, b) => rank(a) - rank(b) || b.changed_at - a.changed_at || a.name.localeCompare(b.name));
  return h(
    "ul.kb-source-item-list",
    {},
    sorted.map((item) => {
      const key = statusKey(item.status);
      const link = /^https?:\/\//i.test(item.name);
      return h(
        "li",
        { dataset: { status: key } },
        h("div.kb-source-item-name", {}, link ? h("a", { href: item.name, target: "_blank", rel: "noopener noreferrer" }, item.title || item.name) : item.name, !link && item.title && !item.name.startsWith(item.title) ? h("div.muted.small", {}, item.title) : null),
        h("div.status", {}, statusBadge(key), ...statusReason(key, item.reason, "sourceHelp")),
        h("span.muted.small", { title: formatDateTime(item.checked_at) }, formatAgo(item.changed_at)),
      );
    }),
  );
}

function recentJobs(jobs) {
  if (!jobs.length) return null;
  return h(
    "div.kb-source-jobs",
    {},
    h("h4", {}, t("recentSyncs")),
    h(
      "ul",
      {},
      jobs.slice(0, 5).map((job) =>
        h(
          "li",
          { dataset: { status: job.status } },
          h("span", { title: formatDateTime(job.created_at) }, formatAgo(job.finished_at || job.started_at || job.created_at)),
          " · ",
          t(`job.${job.status}`),
          job.status === "done" ? ` · ${jobOutcome(job)}` : null,
          job.status !== "done" && job.message && !job.error ? disclosure(job.message) : null,
          job.error ? disclosure(job.error) : null,
        ),
      ),
    ),
  );
}

// The "Add source" form: its fields are the chosen kind's options (drawn from its
// schema). The server checks the source (the folder exists, the mailbox takes the
// password, the address is public) and its message is shown under the form. A webhook's
// token is shown here, this once.
function sourceForm(kb, added) {
  const kinds = [...known.values()];
  const kind = h("select", { name: "source-kind" }, kinds.map((k) => h("option", { value: k.kind }, kindLabel(k.kind))));
  const kindHelp = h("small.muted");
  const location = h("input", { name: "source-location", autocomplete: "off", spellcheck: false });
  const locationLabel = h("span");
  const locationHelp = h("small.muted");
  const password = h("input", { name: "source-password", type: "password", autocomplete: "new-password" });
  const interval = h("select", { name: "source-interval" }, h("option", { value: "" }, t("interval.default")), INTERVALS.map((s) => h("option", { value: String(s) }, t(`interval.${s}`))));
  const error = h("div.form-error", { role: "alert" });
  const shown = h("div.token-shown.kb-source-token", { hidden: true });

  const locationRow = h("label.field", {}, locationLabel, location, locationHelp);
  const optionsBox = h("div.kb-source-options");
  const passwordRow = field(t("password"), password, t("imapPasswordHelp"));
  const intervalRow = field(t("syncEvery"), interval);
  const optionFields = new Map(); // kind → its option fields, made once (values kept)

  const choose = () => {
    const k = declared(kind.value);
    kindHelp.textContent = tOr(`kindHelp.${k.kind}`, k.summary || "");
    locationRow.hidden = k.location === "none";
    locationLabel.textContent = tOr(`location.${k.kind}`, tOr(`locationOf.${k.location}`, k.kind));
    locationHelp.textContent = tOr(`locationHelp.${k.kind}`, "");
    location.placeholder = tOr(`placeholder.${k.kind}`, "");
    location.required = ["folder", "file", "url"].includes(k.location);
    location.type = k.location === "url" ? "url" : "text";
    if (!optionFields.has(k.kind)) optionFields.set(k.kind, optionInputs(k.options));
    optionsBox.replaceChildren(...optionFields.get(k.kind).map((o) => o.row));
    passwordRow.hidden = !k.password;
    password.required = Boolean(k.password);
    intervalRow.hidden = !k.scheduled;
    error.textContent = "";
  };
  kind.addEventListener("change", choose);

  const body = () => {
    const k = declared(kind.value);
    const options = {};
    for (const option of optionFields.get(k.kind) || []) {
      const value = option.value();
      if (value !== undefined) options[option.name] = value;
    }
    return {
      kind: k.kind,
      location: k.location === "none" ? "" : location.value.trim(),
      kb: kb.id,
      options,
      password: k.password ? password.value : null,
      interval_s: k.scheduled && interval.value ? Number(interval.value) : null,
    };
  };
  const showToken = (source) => {
    const token = h("code.token", {}, source.token);
    const url = h("code.token", {}, `${window.location.origin}${source.webhook_url}`);
    shown.hidden = false;
    shown.replaceChildren(
      h("p", {}, h("strong", {}, t("webhookToken")), " ", t("webhookTokenOnce")),
      h("div.kb-source-secret", {}, token, copyButton(source.token, token)),
      h("p.muted", {}, t("webhookUrl")),
      h("div.kb-source-secret", {}, url, copyButton(url.textContent, url)),
      h("p.muted.small", {}, t("webhookHelp")),
      h(
        "button.small",
        {
          type: "button",
          onclick: () => {
            shown.hidden = true;
            shown.replaceChildren(); // gone for good
          },
        },
        t("tokenSaved"),
      ),
    );
  };

  const submit = h("button.primary", { type: "submit" }, icon("plus"), t("addSource"));
  const form = h(
    "form.kb-source-form",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        error.replaceChildren();
        submit.disabled = true;
        try {
          const source = await api("POST", "/sources", body());
          password.value = "";
          location.value = "";
          toast(t("sourceAdded"), "info");
          if (source.token) showToken(source);
          added();
        } catch (err) {
          if (err instanceof ApiError && err.status > 0 && err.status !== 401) showError(error, err);
          else report(err);
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("div.grid", {}, h("label.field", {}, h("span", {}, t("sourceKind")), kind, kindHelp), locationRow, optionsBox, passwordRow, intervalRow),
    error,
    h("div.actions", {}, submit),
  );
  choose();
  const box = h("details.kb-source-add", {}, h("summary", {}, icon("plus"), t("addSource")), form, shown);
  return box;
}

// The inputs of a kind's options from its JSON schema: [{name, row, value()}], value()
// undefined when the option is left to its default. A yes/no option is a checkbox, a
// choice a select, a number or a date their inputs, anything else a text field.
function optionInputs(schema) {
  const required = new Set(schema.required || []);
  return Object.entries(schema.properties || {}).map(([name, property]) => {
    const spec = (property.anyOf || []).find((s) => s.type !== "null") || property;
    const label = tOr(`option.${name}`, property.title || name);
    const translated = label !== (property.title || name); // else the server's English help
    const help = tOr(`optionHelp.${name}`, translated ? "" : property.description || "");
    const example = (property.examples || [])[0] ?? (property.default || "");
    const attrs = { name: `option-${name}`, required: required.has(name), spellcheck: false, autocomplete: "off" };
    if (spec.type === "boolean") {
      const box = h("input", { name: attrs.name, type: "checkbox", checked: Boolean(property.default) });
      const row = h("div.field", {}, h("label.check", {}, box, label), help ? h("small.muted", {}, help) : null);
      return { name, row, value: () => box.checked };
    }
    let input;
    if (spec.enum) {
      input = h("select", { name: attrs.name }, spec.enum.map((v) => h("option", { value: v, selected: v === property.default }, tOr(`${name}.${v}`, v))));
    } else if (spec.type === "integer" || spec.type === "number") {
      input = h("input", { ...attrs, type: "number", min: spec.minimum ?? spec.exclusiveMinimum, max: spec.maximum, placeholder: String(example) });
    } else {
      input = h("input", { ...attrs, type: spec.format === "date" ? "date" : "text", placeholder: String(example) });
    }
    const value = () => {
      const text = input.value.trim();
      if (!text) return required.has(name) ? "" : undefined;
      return spec.type === "integer" || spec.type === "number" ? Number(text) : text;
    };
    return { name, row: field(label, input, help || null), value };
  });
}
