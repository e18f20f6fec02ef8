// Answers as Markdown, rendered by markdown-it (vendored: scripts/vendor-web.sh) with raw
// HTML off, so every text a model writes is escaped; links only to http(s) and mailto
// addresses, opened in a new tab; no images (they would fetch from other hosts);
// headings kept small; tables in a scrolling box; citation markers [n] and [1, 2] turned
// into chips by the caller's `cite(n)`.

import markdownit from "./vendor/markdown-it.js";

const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESC[c]);
}

const md = markdownit({ html: false, linkify: false, typographer: false, breaks: true });
md.disable("image");
md.validateLink = (url) => /^(https?:|mailto:)/i.test(url.trim());

// [1] or [1, 2] (not a link's label: no "(" after it), when every number names a passage
const CITE = /^\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\](?!\()/;
md.inline.ruler.before("link", "cite", (state, silent) => {
  if (state.src.charCodeAt(state.pos) !== 0x5b || !state.env.cite) return false;
  const match = CITE.exec(state.src.slice(state.pos, state.pos + 40));
  if (!match) return false;
  const numbers = match[1].split(",").map((n) => Number(n.trim()));
  if (!numbers.every((n) => state.env.cite(n) !== null)) return false;
  if (!silent) state.push("cite", "", 0).meta = { numbers };
  state.pos += match[0].length;
  return true;
});
md.renderer.rules.cite = (tokens, idx, options, env) => tokens[idx].meta.numbers.map((n) => env.cite(n)).join("");

md.core.ruler.push("small_headings", (state) => {
  for (const token of state.tokens) {
    if (token.type === "heading_open" || token.type === "heading_close") {
      token.tag = `h${Math.min(Number(token.tag.slice(1)) + 2, 6)}`;
    }
  }
});

md.renderer.rules.table_open = () => '<div class="table"><table>\n';
md.renderer.rules.table_close = () => "</table></div>\n";
md.renderer.rules.fence = (tokens, idx) => {
  const token = tokens[idx];
  const lang = token.info.trim().split(/\s+/)[0];
  const attr = lang ? ` data-lang="${escapeHtml(lang)}"` : "";
  return `<pre${attr}><code>${escapeHtml(token.content.replace(/\n$/, ""))}</code></pre>\n`;
};
const renderToken = (tokens, idx, options, env, self) => self.renderToken(tokens, idx, options);
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  tokens[idx].attrSet("target", "_blank");
  tokens[idx].attrSet("rel", "noopener noreferrer");
  return renderToken(tokens, idx, options, env, self);
};

// `cite(n)`: the HTML of the chip for passage n, or null when n names none (the marker
// then stays as text).
export function renderMarkdown(source, cite = null) {
  return md.render(String(source), { cite });
}
