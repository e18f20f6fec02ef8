// Errors a person understands. Every error the server sends has a stable `code` and,
// for those a person meets, a `key` naming its message in the catalogue (i18n.js,
// "error.<key>", in Spanish and English); the server's own words (English, for the
// technically minded) go behind "Details". A request that reaches no server shows the
// connection banner, which retries by itself; never the browser's "Failed to fetch".

import { API, ApiError, onOffline } from "./api.js";
import { t } from "./i18n.js";
import { set, state } from "./store.js";
import { $, disclosure, h, toast } from "./ui.js";

// {text, detail}: what to show (translated), and the technical words (or null).
export function describe(err) {
  if (err instanceof ApiError) {
    if (err.status === 0) return { text: t("error.network"), detail: null };
    const own = err.key ? t(`error.${err.key}`, err.args) : null;
    if (own && own !== `error.${err.key}`) return { text: own, detail: err.message };
    const general = t(`error.code.${err.code}`);
    return { text: general !== `error.code.${err.code}` ? general : t("error.unknown"), detail: err.message };
  }
  return { text: t("error.unexpected"), detail: String((err && err.message) || err) };
}

// Show `err` as a toast (a signed-out 401 shows the sign-in form instead; a network
// failure, the banner).
export function report(err) {
  if (err && err.name === "AbortError") return;
  if (err instanceof ApiError && (err.status === 401 || err.status === 0)) return;
  if (!(err instanceof ApiError)) console.error(err);
  const { text, detail } = describe(err);
  toast(text, "error", detail);
}

// `err` in a form: its translated text, the details behind a disclosure.
export function showError(box, err) {
  const { text, detail } = describe(err);
  box.replaceChildren(h("span", {}, text), detail ? disclosure(detail) : null);
}

const RETRY_MS = [1000, 2000, 4000, 8000];
let retrying = null;
const reconnected = new Set();

// `fn()` runs when Sabio answers again after the banner was shown.
export function onReconnect(fn) {
  reconnected.add(fn);
}

// The banner at the top while Sabio cannot be reached; it asks /health again and again
// (1 s, 2 s, 4 s, then every 8 s) and goes when the server answers.
export function watchConnection() {
  onOffline(() => {
    if (retrying) return;
    set({ online: false });
    const banner = $("#connection");
    banner.classList.remove("online");
    banner.replaceChildren(h("strong", {}, t("offlineTitle")), " ", h("span", {}, t("offlineHelp")));
    banner.hidden = false;
    let attempt = 0;
    const check = async () => {
      try {
        const res = await fetch(`${API}/health`, { cache: "no-store" });
        if (res.ok) return back();
      } catch {
        /* still down */
      }
      retrying = setTimeout(check, RETRY_MS[Math.min(attempt++, RETRY_MS.length - 1)]);
    };
    retrying = setTimeout(check, RETRY_MS[0]);
  });
}

// Back: the banner says so for three seconds, and the page is drawn again from the server.
function back() {
  retrying = null;
  const banner = $("#connection");
  banner.replaceChildren(h("strong", {}, t("onlineAgain")));
  banner.classList.add("online");
  setTimeout(() => {
    if (state.online) {
      banner.hidden = true;
      banner.classList.remove("online");
    }
  }, 3000);
  set({ online: true });
  for (const fn of reconnected) fn();
}

export const isOnline = () => state.online;
