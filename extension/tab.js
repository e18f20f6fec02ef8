// What the panel does in the tab, through chrome.scripting: read the page (its text as
// shown, its HTML for saving, the selection) and show where a cited passage is.

const api = globalThis.browser ?? globalThis.chrome;

function readPage() {
  const selection = String(window.getSelection?.() ?? "");
  const pdf = document.contentType === "application/pdf";
  return {
    url: location.href,
    title: document.title,
    lang: document.documentElement.lang || "",
    text: pdf ? "" : document.body?.innerText ?? "",
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

async function run(tabId, func, args = []) {
  const [result] = await api.scripting.executeScript({ target: { tabId }, func, args });
  return result?.result;
}

export const readTab = (tabId) => run(tabId, readPage);
export const showInTab = (tabId, passage) => run(tabId, showPassage, [passage]);
