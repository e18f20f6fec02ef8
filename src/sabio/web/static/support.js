// What the documents support in an answer: a mark after each statement no passage
// supports (its reason on hover, or on tap in a small note), a closing line that counts
// them, and the answer-style picker (quotes from the documents, the model's answer, or
// both). views/chat.js calls renderAnswer() instead of renderMarkdown() for an answer, binds the
// marks once with bindClaimMarks(), puts styleSelect() in the composer and sends
// currentStyle() with each question.

import { t } from "./i18n.js";
import { escapeHtml, renderMarkdown } from "./markdown.js";

const MARK = /\u0002(\d+)\u0003/g;
const STYLE_KEY = "sabio.answerStyle";
const STYLES = ["", "extractive", "generative", "both"];

// Sentinels after each unsupported claim survive the Markdown renderer (it escapes only
// HTML's special characters) and become marks once the HTML is made.
function withSentinels(text, claims) {
  const marks = (claims || [])
    .map((claim, i) => [claim, i])
    .filter(([claim]) => !claim.supported && claim.end > 0 && claim.end <= text.length)
    .sort((a, b) => b[0].end - a[0].end);
  let out = text;
  for (const [claim, i] of marks) out = `${out.slice(0, claim.end)}\u0002${i}\u0003${out.slice(claim.end)}`;
  return out;
}

export function claimReason(claim) {
  const missing = (claim.missing || []).slice(0, 4).join(", ");
  return missing ? t("claimMissing", { items: missing }) : t("claimUnsupported");
}

function markHtml(claim, i) {
  const why = escapeHtml(claimReason(claim));
  return `<button type="button" class="claim-mark" data-claim="${i}" title="${why}" aria-label="${escapeHtml(t("notSupported"))}: ${why}">!</button>`;
}

// The closing line: how many of the model's statements (not Sabio's quotes) no passage
// supports; "" when all are supported.
export function supportNote(claims) {
  const written = (claims || []).filter((c) => !c.quoted);
  const bad = written.filter((c) => !c.supported).length;
  return bad ? t("supportNote", { n: bad, total: written.length }) : "";
}

// An answer's HTML: its Markdown with citation chips (`cite`, as renderMarkdown takes it),
// a mark after each unsupported statement and the closing line.
export function renderAnswer(answer, cite) {
  const claims = answer.claims || [];
  let html = renderMarkdown(withSentinels(answer.text || "", claims), cite);
  html = html.replace(MARK, (_, i) => (claims[Number(i)] ? markHtml(claims[Number(i)], Number(i)) : ""));
  const note = supportNote(claims);
  return note ? `${html}\n<p class="support-note">${escapeHtml(note)}</p>` : html;
}

// A tap on a mark shows (or hides) its reason under the paragraph: phones have no hover.
export function bindClaimMarks(body) {
  body.addEventListener("click", (event) => {
    const mark = event.target.closest("button.claim-mark");
    if (!mark) return;
    const open = mark.nextElementSibling;
    if (open && open.classList.contains("claim-why")) {
      open.remove();
      return;
    }
    const why = document.createElement("span");
    why.className = "claim-why";
    why.setAttribute("role", "note");
    why.textContent = mark.title;
    mark.after(why);
  });
}

export function currentStyle() {
  const saved = localStorage.getItem(STYLE_KEY) || "";
  return STYLES.includes(saved) ? saved : "";
}

const STYLE_LABELS = { "": "styleAuto", extractive: "styleExtractive", generative: "styleGenerative", both: "styleBoth" };

export function styleSelect() {
  const select = document.createElement("select");
  select.className = "answer-style";
  select.setAttribute("aria-label", t("answerStyle"));
  select.title = t("answerStyle");
  for (const style of STYLES) {
    const option = document.createElement("option");
    option.value = style;
    option.textContent = t(STYLE_LABELS[style]);
    option.selected = style === currentStyle();
    select.append(option);
  }
  select.addEventListener("change", () => localStorage.setItem(STYLE_KEY, select.value));
  return select;
}
