// The web app's shared state, in one small store: views read `state`, change it through
// `set()`, and `watch()` the keys they show, instead of reaching into one another.
//
//   auth     GET /auth/status: who is signed in, whether accounts are on
//   kbs      the knowledge bases this user may read (with `access` and counts)
//   models   every model, for the pickers
//   chats    the sidebar's list (filtered by `chatQuery`)
//   chat     the open chat (its branch of messages), or null on a new one
//   online   false while Sabio cannot be reached (the connection banner)

const state = {
  auth: null,
  kbs: [],
  models: [],
  chats: [],
  chatQuery: "",
  chat: null,
  online: true,
};
const watchers = new Map(); // key → Set of functions

export { state };

// Change `patch`'s keys and tell who watches them (once each, after all are set).
export function set(patch) {
  const told = new Set();
  Object.assign(state, patch);
  for (const key of Object.keys(patch)) for (const fn of watchers.get(key) || []) told.add(fn);
  for (const fn of told) fn(state);
}

// Call `fn(state)` whenever one of `keys` changes; returns the function that stops it.
export function watch(keys, fn) {
  for (const key of keys) {
    if (!watchers.has(key)) watchers.set(key, new Set());
    watchers.get(key).add(fn);
  }
  return () => keys.forEach((key) => watchers.get(key).delete(fn));
}

// What the signed-in user may do with knowledge base `kb` (its entry of `kbs`).
export const canWrite = (kb) => Boolean(kb) && (kb.access === "write" || kb.access === "manage");
export const isAdmin = () => !state.auth || !state.auth.auth || Boolean(state.auth.user && state.auth.user.admin);
export const kbByName = (name) => state.kbs.find((kb) => kb.name === name || kb.id === name) || null;
