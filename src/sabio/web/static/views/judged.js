// The judged set of a knowledge base (in its "Guide and notes" tab): the questions its users
// judged — each pinned answer's question, answered by the documents it cites, and each
// corrected one, answered by its note — which `sabio eval --from-feedback KB` measures
// (GET /kbs/{id}/judged). "Measure" searches each one now (?scores=true) and shows the
// metrics and where each question's answer ranks, so a change of embedder or settings is
// seen on the users' own questions.

import { api } from "../api.js";
import { report } from "../errors.js";
import { t } from "../i18n.js";
import { h } from "../ui.js";

const METRICS = ["ndcg@10", "recall@5", "recall@10", "recall@100", "mrr@10"];

export async function judgedSection(kb) {
  const url = `/kbs/${encodeURIComponent(kb.id)}/judged`;
  const found = await api("GET", url);
  const scores = h("div.judged-scores");
  const rows = h("tbody");
  const draw = (questions, scored) => rows.replaceChildren(...questions.map((q) => row(q, scored)));
  draw(found.questions, false);
  const measure = h("button.small", { type: "button", disabled: !found.questions.length }, t("judgedMeasure"));
  measure.addEventListener("click", async () => {
    measure.disabled = true;
    measure.textContent = t("judgedMeasuring");
    try {
      const measured = await api("GET", `${url}?scores=true`);
      draw(measured.questions, true);
      scores.replaceChildren(scoreTable(measured.scores));
    } catch (err) {
      report(err);
    } finally {
      measure.disabled = false;
      measure.textContent = t("judgedMeasure");
    }
  });
  const head = h("tr", {}, h("th", {}, t("judgedQuestion")), h("th", {}, t("judgedAnsweredBy")), h("th", {}, t("judgedRank")));
  const table = h("div.table", {}, h("table.judged", {}, h("thead", {}, head), rows));
  const body = found.questions.length ? [table, h("div.actions", {}, measure), scores] : [h("p.muted", {}, t("judgedNone"))];
  return h("section.judged-set", {}, h("h3", {}, t("judgedHeading")), h("p.muted", {}, t("judgedHelp")), ...body);
}

function row(question, scored) {
  const kinds = [question.pinned ? h("span.badge.pinned", {}, t("judgedPinned")) : null, question.corrected ? h("span.badge", {}, t("judgedCorrected")) : null];
  const by = question.relevant.map((source) => (source.startsWith("note:") ? t("judgedItsNote") : source.split(/[\\/]/).pop())).join(", ");
  const rank = !scored ? "" : question.rank === null ? t("judgedNotFound") : String(question.rank);
  return h("tr", {}, h("td", {}, question.question, " ", ...kinds), h("td", {}, by), h("td.rank", {}, rank));
}

function scoreTable(scores) {
  const cells = METRICS.map((name) => h("td", {}, (scores[name] ?? 0).toFixed(2)));
  const head = h("tr", {}, h("th", {}, t("judgedQuestions")), ...METRICS.map((name) => h("th", {}, name)));
  const values = h("tr", {}, h("td", {}, String(scores.questions ?? 0)), ...cells);
  return h("div.table", {}, h("table.judged-metrics", {}, h("thead", {}, head), h("tbody", {}, values)));
}
