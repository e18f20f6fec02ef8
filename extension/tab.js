// What the panel does in the tab, through chrome.scripting: read the page (its text as
// shown, its HTML for saving, the selection) and show where a cited passage is.

const api = globalThis.browser ?? globalThis.chrome;

// The text asked about is the page's main content as shown: its one <article>, or its
// <main>, when that holds a good part of the page's text; else the whole page. Menus,
// ads, cookie notices and comments around it are not sent (the HTML saved is whole:
// Sabio reads its main content itself).
function readPage() {
  const selection = String(window.getSelection?.() ?? "");
  const pdf = document.contentType === "application/pdf";
  const whole = document.body?.innerText ?? "";
  const articles = document.querySelectorAll("article");
  const main = [articles.length === 1 ? articles[0] : null, document.querySelector("main, [role=main]")]
    .map((el) => el?.innerText?.trim() ?? "")
    .find((text) => text.length >= 200 && text.length >= whole.trim().length / 4);
  return {
    url: location.href,
    title: document.title,
    lang: document.documentElement.lang || "",
    text: pdf ? "" : main ?? whole,
    html: pdf ? "" : document.documentElement.outerHTML,
    selection,
    pdf,
  };
}

// Finds the passage's text in the page (whitespace and case aside), selects it, marks it
// with the CSS Custom Highlight API when there is one, and scrolls to it.
function showPassage(passage) {
  const squash = (s) => s.replace(/\s+/g, " ").toLowerCase();
  const wanted = squash(passage).trim().slice(0, 1000);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const nodes = [];
  let joined = "";
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    nodes.push({ node, from: joined.length });
    joined += node.data + " ";
  }
  // positions in the squashed text → positions in the joined text
  const map = [];
  let squashed = "";
  let space = false;
  for (let i = 0; i < joined.length; i += 1) {
    const ch = joined[i];
    if (/\s/.test(ch)) {
      if (!space) { squashed += " "; map.push(i); }
      space = true;
    } else {
      squashed += ch.toLowerCase();
      map.push(i);
      space = false;
    }
  }
  const at = squashed.indexOf(wanted);
  if (at < 0 || !wanted) return false;
  const locate = (offset) => {
    const index = map[Math.min(offset, map.length - 1)];
    let found = nodes[0];
    for (const n of nodes) if (n.from <= index) found = n;
    return [found.node, Math.min(index - found.from, found.node.data.length)];
  };
  const range = document.createRange();
  range.setStart(...locate(at));
  const [endNode, endOffset] = locate(at + wanted.length - 1);
  range.setEnd(endNode, Math.min(endOffset + 1, endNode.data.length));
  if (globalThis.CSS?.highlights && globalThis.Highlight) {
    CSS.highlights.set("sabio", new Highlight(range));
    if (!document.getElementById("sabio-highlight-style")) {
      const style = document.createElement("style");
      style.id = "sabio-highlight-style";
      style.textContent = "::highlight(sabio) { background: #ffe066; color: inherit; }";
      document.head.append(style);
    }
  }
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  range.startContainer.parentElement?.scrollIntoView({ block: "center", behavior: "smooth" });
  return true;
}

// Translation in place. The leaf blocks of the page (paragraphs, headings, list items,
// cells… that hold no other block) are read with their inline elements as numbered tags:
// `<a1>…</a1>` around words to translate (links, bold…), `<code2/>` for one kept as it is
// (code, images, line breaks, hidden or `translate="no"` parts). Their translations
// replace their contents, the tags made copies of the same elements again; the original
// nodes are kept (in this extension's world of the tab, not in the page's) to be put back
// as they were. Returns the blocks' texts.
function readBlocks() {
  const BLOCKS = "p,h1,h2,h3,h4,h5,h6,li,dt,dd,td,th,caption,figcaption,blockquote,summary,legend,label,div,section,article,aside,header,footer,nav,main";
  const KEEP = "code,kbd,samp,var,tt,pre,img,picture,svg,math,br,wbr,input,select,textarea,button,video,audio,canvas,iframe,object,script,style,noscript,template,[translate=no],.notranslate";
  const SKIP = "script,style,noscript,template,svg,code,pre,[translate=no],.notranslate";
  const LETTER = /\p{L}/u;
  const nameOf = (node) => node.localName.replace(/[^a-z]/g, "") || "x";
  const state = (globalThis.sabioInPlace ??= { blocks: [], originals: [], translated: false });
  if (state.blocks.length) return state.blocks.map((b) => b.text);
  const marked = (parent, inline) => {
    let out = "";
    for (const node of parent.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) out += node.data;
      if (node.nodeType !== Node.ELEMENT_NODE) continue;
      const kept = node.matches(KEEP) || node.checkVisibility?.() === false || !LETTER.test(node.textContent);
      const tag = `${nameOf(node)}${inline.push({ node, kept })}`;
      out += kept ? `<${tag}/>` : `<${tag}>${marked(node, inline)}</${tag}>`;
    }
    return out;
  };
  for (const el of document.body.querySelectorAll(BLOCKS)) {
    if (el.querySelector(BLOCKS) || el.closest(SKIP) || el.checkVisibility?.() === false) continue;
    const inline = [];
    const text = marked(el, inline).replace(/\s+/g, " ").trim();
    if (LETTER.test(text.replace(/<\/?[a-z]+\d+\/?>/gi, ""))) state.blocks.push({ el, text, inline });
  }
  return state.blocks.map((b) => b.text);
}

// "translated" (the translations put in place), "original" (put back), or "none" when
// the blocks were not read yet. `translations` given: put them in place.
function switchBlocks(translations) {
  const state = globalThis.sabioInPlace;
  if (!state?.blocks.length) return "none";
  if (state.translated) {
    state.blocks.forEach((b, i) => b.el.replaceChildren(...state.originals[i]));
    state.translated = false;
    if (!translations) return "original";
  }
  if (translations) state.translations = translations;
  if (!state.translations) return "none";
  const TAG = /<(\/?)([a-z]+)(\d+)(\/?)>/gi;
  const nameOf = (node) => node.localName.replace(/[^a-z]/g, "") || "x";
  // A translation's nodes: each tag a copy of the block's own element (a kept one whole),
  // or null when the tags are not the block's, each once and nested.
  const build = (text, inline) => {
    const open = [{ into: document.createDocumentFragment(), at: 0 }];
    const used = new Set();
    let last = 0;
    for (const match of text.matchAll(TAG)) {
      const [whole, close, name, number, self] = match;
      open.at(-1).into.append(text.slice(last, match.index));
      last = match.index + whole.length;
      const n = Number(number);
      const { node, kept } = inline[n - 1] ?? {};
      if (!node || nameOf(node) !== name.toLowerCase()) return null;
      if (close) {
        if (self || open.at(-1).at !== n) return null;
        open.pop();
      } else if (used.has(n) || kept !== Boolean(self)) {
        return null;
      } else {
        used.add(n);
        const copy = node.cloneNode(kept);
        open.at(-1).into.append(copy);
        if (!kept) open.push({ into: copy, at: n });
      }
    }
    if (open.length !== 1) return null;
    open[0].into.append(text.slice(last));
    return open[0].into;
  };
  state.originals = state.blocks.map((b) => [...b.el.childNodes]);
  state.blocks.forEach((b, i) => {
    const text = state.translations[i] ?? b.text;
    b.el.replaceChildren(build(text, b.inline) ?? text.replace(TAG, ""));
  });
  state.translated = true;
  return "translated";
}

async function run(tabId, func, args = []) {
  const [result] = await api.scripting.executeScript({ target: { tabId }, func, args });
  return result?.result;
}

export const readTab = (tabId) => run(tabId, readPage);
export const showInTab = (tabId, passage) => run(tabId, showPassage, [passage]);
export const readBlocksOf = (tabId) => run(tabId, readBlocks);
export const switchInTab = (tabId, translations = null) => run(tabId, switchBlocks, [translations]);
