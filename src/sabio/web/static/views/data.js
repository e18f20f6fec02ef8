// Your data, in Settings: what Sabio keeps, all of it exported to one archive (and
// downloaded), an archive brought back, everything deleted (the REST routes under
// /data, admins only with accounts); and the question, when a knowledge base is deleted,
// whether to keep its chats (views/settings.js and views/kbs.js call it).

import { api, sendFile } from "../api.js";
import { confirmDialog, confirmWithOption } from "../dialogs.js";
import { report } from "../errors.js";
import { formatSize, t } from "../i18n.js";
import { field, h, toast } from "../ui.js";

const COUNTS = ["knowledge_bases", "documents", "chats", "users", "sources", "uploads"];

function describe(contents) {
  const parts = COUNTS.filter((name) => contents[name]).map((name) => t(`data.${name}`, { n: contents[name] }));
  return parts.length ? parts.join(", ") : t("dataEmpty");
}

// The "Your data" card of the settings page.
export async function dataSection() {
  const data = await api("GET", "/data");
  const holds = h("p", {}, t("dataHolds", { what: describe(data.contents) }));
  const card = h("section.card.data-card", { "aria-labelledby": "data-title" }, h("h2", { id: "data-title" }, t("dataTitle")), h("p.muted", {}, t("dataHelp")), holds);
  card.append(exportForm(data.needs_passphrase), importForm(), purgeButton(data.contents));
  return card;
}

function exportForm(needsPassphrase) {
  const passphrase = h("input", { name: "export-passphrase", type: "password", autocomplete: "new-password", required: true });
  const status = h("span.muted", { role: "status" });
  return h(
    "form.data-form",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        status.textContent = t("exporting");
        try {
          const made = await api("POST", "/data/export", needsPassphrase ? { passphrase: passphrase.value } : {});
          const link = h("a", { href: made.url, download: made.name, hidden: true });
          document.body.append(link);
          link.click(); // a download of its own: the archive is never held by the page
          link.remove();
          status.textContent = t("exported", { name: made.name, size: formatSize(made.size) });
        } catch (err) {
          status.textContent = "";
          report(err);
        }
      },
    },
    h("h3", {}, t("exportAll")),
    h("p.muted", {}, t("exportHelp")),
    needsPassphrase ? field(t("passphrase"), passphrase, t("exportPassphraseHelp")) : null,
    h("div.actions", {}, h("button.primary", { type: "submit" }, t("exportAll")), status),
  );
}

function importForm() {
  const file = h("input", { name: "archive", type: "file", accept: ".tar,application/x-tar", required: true });
  const passphrase = h("input", { name: "import-passphrase", type: "password", autocomplete: "off" });
  const status = h("span.muted", { role: "status" });
  return h(
    "form.data-form",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        status.textContent = t("importing");
        try {
          const headers = passphrase.value ? { "X-Sabio-Passphrase": encodeURIComponent(passphrase.value) } : {};
          const done = await sendFile("/data/import", file.files[0], headers);
          toast(t("imported", { what: describe(done.contents) }), "info");
          location.reload(); // accounts, chats and knowledge bases are all new
        } catch (err) {
          status.textContent = "";
          report(err);
        }
      },
    },
    h("h3", {}, t("importTitle")),
    h("p.muted", {}, t("importHelp")),
    h("div.grid", {}, field(t("archiveFile"), file), field(t("passphrase"), passphrase, t("importPassphraseHelp"))),
    h("div.actions", {}, h("button", { type: "submit" }, t("importTitle")), status),
  );
}

function purgeButton(contents) {
  return h(
    "div.data-form",
    {},
    h("h3", {}, t("purgeTitle")),
    h("p.muted", {}, t("purgeHelp")),
    h(
      "div.actions",
      {},
      h(
        "button.danger",
        {
          type: "button",
          onclick: async () => {
            const sure = await confirmDialog({ title: t("purgeTitle"), message: t("purgeConfirm", { what: describe(contents) }), confirmLabel: t("purgeAll") });
            if (!sure) return;
            try {
              await api("POST", "/data/purge", { confirm: true });
              toast(t("purged"), "info");
              location.replace("/"); // a new start: no account, chat or knowledge base is left
            } catch (err) {
              report(err);
            }
          },
        },
        t("purgeAll"),
      ),
    ),
  );
}

// Whether to delete knowledge base `kb`, and its chats: {keepChats} or null (cancelled).
export async function confirmKbDeletion(kb) {
  const keep = await confirmWithOption({ title: t("deleteKb"), message: t("deleteKbConfirm", { kb: kb.name }), option: t("keepChats"), confirmLabel: t("delete") });
  return keep === null ? null : { keepChats: keep };
}
