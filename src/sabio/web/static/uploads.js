// Uploading files into a knowledge base, for its Documents tab and for files attached in
// the chat box: a queue (two at a time) with a progress bar and the outcome of each file,
// in the interface's language; an encrypted file asks for its password.

import { api, upload } from "./api.js";
import { passwordDialog } from "./dialogs.js";
import { describe } from "./errors.js";
import { formatSize, t } from "./i18n.js";
import { disclosure, h, icon, statusBadge, statusReason } from "./ui.js";

const AT_ONCE = 2;

// The queue of knowledge base `kb` (its entry: id, name): {element, enqueue(files)}.
// `done()` runs when the queue empties, `unlocked()` when a password opened a file.
export function uploadQueue(kb, { done = () => {}, unlocked = () => {}, compact = false } = {}) {
  const element = h(compact ? "ul.upload-queue.compact" : "ul.upload-queue", { "aria-live": "polite", "aria-label": t("uploads") });
  const pending = [];
  let running = 0;
  const enqueue = (files) => {
    for (const file of files) {
      const bar = h("progress", { max: 1, value: 0, "aria-label": `${t("uploading")} ${file.name}` });
      const status = h("div.status", {}, t("waiting"));
      const row = h("li", {}, h("span.file-name", { title: file.name }, file.name), h("span.muted.file-size", {}, formatSize(file.size)), bar, status);
      element.append(row);
      pending.push({ file, bar, status, row });
    }
    pump();
  };
  const show = (item, result) => {
    item.bar.max = 1;
    item.bar.value = 1;
    item.row.dataset.status = result.status;
    item.status.replaceChildren(...outcome(kb, result, { unlocked: (fresh) => (show(item, fresh), unlocked(fresh)) }));
  };
  const pump = () => {
    while (running < AT_ONCE && pending.length) {
      const item = pending.shift();
      running += 1;
      item.status.textContent = t("uploading");
      upload(kb.id, item.file, (fraction) => {
        item.bar.value = fraction;
        if (fraction >= 1) {
          item.bar.removeAttribute("value"); // indeterminate while the server indexes
          item.status.textContent = t("indexing");
        }
      })
        .then((result) => show(item, result))
        .catch((err) => {
          item.bar.max = 1;
          item.bar.value = 0;
          item.row.dataset.status = "failed";
          const { text, detail } = describe(err);
          item.status.replaceChildren(statusBadge("rejected"), h("div.status-help", {}, text), detail ? disclosure(detail) : null);
        })
        .finally(() => {
          running -= 1;
          if (!pending.length && !running) done();
          pump();
        });
    }
  };
  return { element, enqueue };
}

// A file's outcome: its badge, what it means, the server's words behind Details, and
// for an encrypted one the button that asks for its password.
export function outcome(kb, result, { unlocked }) {
  const parts = [statusBadge(result.status, result.outcome)];
  if (result.reason || result.reason_key) parts.push(...statusReason(result.status, result.reason, "statusHelp", result.reason_key, result.reason_args));
  else if (result.passages) parts.push(h("span.muted", {}, t("nPassages", { n: result.passages })));
  if (result.status === "encrypted" && result.document_id) {
    parts.push(unlockButton(kb, { id: result.document_id, name: result.name }, unlocked));
  }
  return parts;
}

// "Enter the password" for encrypted document `doc` ({id, name}) of `kb`: asks, tries,
// asks again while it is wrong; `unlocked(result)` once it opened.
export function unlockButton(kb, doc, unlocked) {
  return h(
    "button.small",
    {
      type: "button",
      onclick: async () => {
        let opened = null;
        await passwordDialog({
          title: t("unlockTitle"),
          message: t("unlockHelp", { name: doc.name }),
          tryIt: async (password) => {
            try {
              const result = await api("POST", `/kbs/${encodeURIComponent(kb.id)}/documents/${doc.id}/password`, { password });
              if (result.status === "encrypted") return t("wrongFilePassword");
              opened = result;
              return null;
            } catch (err) {
              return describe(err).text;
            }
          },
        });
        if (opened) unlocked(opened);
      },
    },
    icon("key"),
    t("enterPassword"),
  );
}
