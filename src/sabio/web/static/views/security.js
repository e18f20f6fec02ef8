// A knowledge base's Security tab: what the review found (GET /kbs/{kb}/review), by
// document, highest severity first, masked as the server masks it; a filter by kind;
// writers dismiss a false positive (it stays dismissed) and restore it, and drop a found
// secret from the index (masked in the stored passages, not in the file); the alerts of
// what a source's review on arrival found, until they are marked seen. A review reads
// every document, so it runs when the tab opens and on "Review again", never on each
// change the live counts tell of (those re-read the alerts only).

import { api } from "../api.js";
import { confirmDialog } from "../dialogs.js";
import { report } from "../errors.js";
import { closeSource } from "./chat.js";
import { formatAgo, getLang, t } from "../i18n.js";
import { canWrite, isAdmin } from "../store.js";
import { h, icon } from "../ui.js";

const RANK = { high: 0, medium: 1, low: 2 };
const tOr = (key, fallback) => (t(key) === key ? fallback : t(key));
const kindLabel = (kind) => tOr(`finding.${kind}`, kind);

// {element, refresh}: the tab, and what reads the review again.
export async function securityTab(kb) {
  const path = `/kbs/${encodeURIComponent(kb.id)}/review`;
  const alertsBox = h("div.review-alerts");
  const summary = h("p.muted", { role: "status" });
  const kindFilter = h("select", { name: "finding-kind", "aria-label": t("findingKind") });
  const showDismissed = h("input", { type: "checkbox", name: "show-dismissed" });
  const list = h("div.review-documents");
  let review = null;
  const draw = () => {
    const kind = kindFilter.value;
    const chosen = (findings) => findings.filter((f) => !kind || f.kind === kind);
    const findings = chosen(review.findings);
    const dismissed = showDismissed.checked ? chosen(review.dismissed) : [];
    summary.replaceChildren(t("reviewSummary", { n: review.findings.length, documents: review.documents, dismissed: review.dismissed.length }));
    const byDocument = new Map();
    for (const f of [...findings, ...dismissed.map((d) => ({ ...d, dismissed: true }))]) {
      if (!byDocument.has(f.name)) byDocument.set(f.name, []);
      byDocument.get(f.name).push(f);
    }
    list.replaceChildren(...(byDocument.size ? [...byDocument].map(([name, found]) => documentCard(name, found)) : [h("p.muted", {}, t(review.findings.length ? "reviewNoneOfKind" : "reviewNothing"))]));
  };
  const documentCard = (name, found) => {
    found.sort((a, b) => RANK[a.severity] - RANK[b.severity] || a.start - b.start);
    return h("section.review-document", {}, h("h3", {}, icon("file"), " ", name), h("ul", {}, found.map((f) => findingItem(f))));
  };
  const findingItem = (f) => {
    const where = [f.page ? t("pageN", { n: f.page }) : null, f.line ? t("lineN", { n: f.line }) : null].filter(Boolean).join(" · ");
    const action = canWrite(kb) ? h("button.small", { type: "button", onclick: () => (f.dismissed ? restore(f) : dismiss(f)) }, t(f.dismissed ? "restoreFinding" : "dismissFinding")) : null;
    const showing = f.document_id != null ? h("button.small", { type: "button", name: "show-evidence", onclick: (e) => openEvidence(f, e.currentTarget) }, icon("file"), t("showEvidence")) : null;
    const dropping = canWrite(kb) && f.category === "secret" ? h("button.small.danger", { type: "button", name: "drop-secret", onclick: () => drop(f) }, t("dropSecret")) : null;
    return h(
      `li.finding.${f.severity}`,
      { dataset: { kind: f.kind, dismissed: f.dismissed ? "yes" : "" } },
      h("div.finding-head", {}, h(`span.badge.severity.${f.severity}`, {}, t(`severity.${f.severity}`)), h("strong", {}, kindLabel(f.kind)), where ? h("span.muted", {}, where) : null, f.dismissed ? h("span.badge.dismissed", {}, t("dismissed")) : null, showing, action, dropping),
      h("code.evidence", {}, f.evidence),
      h("p.explanation", {}, f.explanation),
    );
  };
  // The source panel, as a citation opens it: the evidence highlighted among the lines
  // around it on its page, every secret and identifier masked by the server.
  const openEvidence = async (f, opener) => {
    const panel = document.querySelector("#source");
    closeSource();
    for (const el of list.querySelectorAll("button.active")) el.classList.remove("active");
    opener.classList.add("active");
    const where = [f.page ? t("pageN", { n: f.page }) : null, t("lineN", { n: f.line })].filter(Boolean).join(" · ");
    const content = h("div.source-body", { tabindex: 0, role: "region", "aria-label": t("passage") }, h("p.muted", {}, t("loading")));
    const close = h("button.icon-button", { type: "button", "aria-label": t("close"), title: t("close"), onclick: () => { opener.classList.remove("active"); closeSource(); opener.focus(); } }, icon("close"));
    panel.replaceChildren(h("div.source-head", {}, h("div.source-where", {}, h("h2", {}, f.name), h("p.muted", {}, `${kindLabel(f.kind)} · ${where}`)), close), content);
    panel.hidden = false;
    document.body.classList.add("source-open");
    panel.focus();
    try {
      const q = new URLSearchParams({ document_id: f.document_id, kind: f.kind, fingerprint: f.fingerprint, start: f.start });
      const e = await api("GET", `${path}/evidence?${q}`);
      const mark = h("mark", { dataset: { kind: f.kind } }, e.text || "\u200b");
      content.replaceChildren(h("div.passage", {}, e.before ? h("span.context", {}, e.before) : null, mark, e.after ? h("span.context", {}, e.after) : null), e.masked ? h("p.muted.small", {}, t("evidenceMasked")) : null);
      mark.scrollIntoView({ block: "center" });
    } catch (err) {
      closeSource();
      opener.classList.remove("active");
      report(err);
    }
  };
  const key = (f) => ({ document_id: f.document_id, kind: f.kind, fingerprint: f.fingerprint });
  // The finding moves between the lists here: no new review for one click.
  const move = (f, from, to) => {
    const same = (g) => g.document_id === f.document_id && g.kind === f.kind && g.fingerprint === f.fingerprint;
    review[to].push(...review[from].filter(same));
    review[from] = review[from].filter((g) => !same(g));
    review.counts = {};
    for (const g of review.findings) review.counts[g.kind] = (review.counts[g.kind] || 0) + 1;
    drawKinds();
    draw();
  };
  const dismiss = async (f) => {
    try {
      await api("POST", `${path}/dismissals`, key(f));
      move(f, "findings", "dismissed");
    } catch (err) {
      report(err);
    }
  };
  const restore = async (f) => {
    try {
      const k = key(f);
      await api("DELETE", `${path}/dismissals?document_id=${k.document_id}&kind=${encodeURIComponent(k.kind)}&fingerprint=${encodeURIComponent(k.fingerprint)}`);
      move(f, "dismissed", "findings");
    } catch (err) {
      report(err);
    }
  };
  // Masked in the passages of every document that holds it, embedded again: the review
  // is read again (the finding is gone; the original file keeps it, as the dialog says).
  const drop = async (f) => {
    const sure = await confirmDialog({ title: t("dropSecret"), message: t("dropSecretConfirm", { evidence: f.evidence }), confirmLabel: t("dropSecret") });
    if (!sure) return;
    try {
      const done = await api("POST", `${path}/drops`, { fingerprint: f.fingerprint });
      await refresh();
      summary.replaceChildren(t("secretDropped", { n: done.documents.length }));
    } catch (err) {
      report(err);
    }
  };
  const drawAlerts = (alerts) => {
    if (!alerts.length) return alertsBox.replaceChildren();
    const seen = h("button.small", { type: "button", onclick: async () => {
      try {
        await api("POST", `${path}/alerts/seen`);
        alertsBox.replaceChildren();
      } catch (err) {
        report(err);
      }
    } }, t("alertsSeen"));
    const items = alerts.map((a) => h(`li.${a.severity}`, {}, h(`span.badge.severity.${a.severity}`, {}, t(`severity.${a.severity}`)), ` ${a.name}: `, Object.entries(a.counts).map(([k, n]) => `${n} × ${kindLabel(k)}`).join(", "), h("span.muted", {}, ` · ${formatAgo(a.created_at)}`)));
    alertsBox.replaceChildren(h("div.review-alert", { role: "alert" }, h("strong", {}, t("newAlerts", { n: alerts.length })), h("ul", {}, items), seen));
  };
  const drawKinds = () => {
    const dismissedKinds = Object.fromEntries(review.dismissed.map((f) => [f.kind, 0])); // a kind all dismissed stays a choice
    const kinds = Object.entries({ ...dismissedKinds, ...review.counts }).sort((a, b) => kindLabel(a[0]).localeCompare(kindLabel(b[0])));
    const chosen = kinds.some(([k]) => k === kindFilter.value) ? kindFilter.value : "";
    kindFilter.replaceChildren(h("option", { value: "" }, t("allKinds")), ...kinds.map(([k, n]) => h("option", { value: k, selected: k === chosen }, `${kindLabel(k)} (${n})`)));
  };
  const readAlerts = async () => drawAlerts(await api("GET", `${path}/alerts?unseen=true`));
  const refresh = async () => {
    const [fresh] = await Promise.all([api("GET", `${path}?language=${getLang() === "es" ? "es" : "en"}`), readAlerts()]);
    review = fresh;
    drawKinds();
    draw();
  };
  kindFilter.addEventListener("change", draw);
  showDismissed.addEventListener("change", draw);
  await refresh();
  const again = h("button.small", { type: "button", onclick: () => refresh().catch(report) }, icon("refresh"), t("reviewAgain"));
  // The findings summarised: by the chat model when what it wrote keeps to the findings
  // (the server checks), else counted; the box says which.
  const summaryBox = h("div.review-summary", { hidden: true, role: "status" });
  const summarize = h("button.small", { type: "button", name: "summarize-findings", onclick: async () => {
    summarize.disabled = true;
    summaryBox.hidden = false;
    summaryBox.replaceChildren(h("p.muted", {}, t("loading")));
    try {
      const s = await api("GET", `${path}/summary?language=${getLang() === "es" ? "es" : "en"}`);
      const how = s.model ? t("summaryByModel", { model: s.model }) : t(s.refused.length ? "summaryRefused" : "summaryCounted");
      summaryBox.replaceChildren(h("p", {}, s.text), h("p.muted.small", { title: s.refused.join("; ") }, how));
    } catch (err) {
      summaryBox.hidden = true;
      report(err);
    } finally {
      summarize.disabled = false;
    }
  } }, t("summarizeFindings"));
  const filters = h("div.review-filters", {}, h("label.field.inline", {}, h("span", {}, t("findingKind")), kindFilter), h("label.check", {}, showDismissed, t("showDismissed")), again, summarize);
  const intro = h("p.muted.small", {}, t("reviewHelp"));
  const uploads = isAdmin() ? reviewUploads(kb) : null;
  return { element: h("div.kb-security", {}, intro, uploads, alertsBox, summary, filters, summaryBox, list), refresh: () => readAlerts().catch(report) };
}

// Admins: whether the files uploaded into the knowledge base are reviewed as they arrive
// (PATCH /kbs/{kb} {review}); an alert for each with findings, as for a source.
function reviewUploads(kb) {
  const box = h("input", { type: "checkbox", name: "review-uploads", checked: Boolean(kb.review) });
  box.addEventListener("change", async () => {
    try {
      kb.review = (await api("PATCH", `/kbs/${encodeURIComponent(kb.id)}`, { review: box.checked })).review;
    } catch (err) {
      box.checked = Boolean(kb.review);
      report(err);
    }
  });
  return h("label.check", { title: t("reviewUploadsHelp") }, box, t("reviewUploads"));
}
