// What the views load from the server into the store (store.js).

import { api } from "./api.js";
import { set, state } from "./store.js";

export async function loadKbs() {
  set({ kbs: await api("GET", "/kbs") });
  return state.kbs;
}

export async function loadChats() {
  const q = state.chatQuery.trim();
  set({ chats: await api("GET", `/chats${q ? `?q=${encodeURIComponent(q)}` : ""}`) });
  return state.chats;
}

export async function loadModels() {
  set({ models: await api("GET", "/models") });
  return state.models;
}

export const chatModels = () => state.models.filter((m) => m.kind === "chat" && m.available);

export function defaultModelName() {
  const chosen = state.models.find((m) => m.default === "chat");
  return chosen ? chosen.name : null;
}

// The knowledge base a new chat starts with: the default one, else the first.
export function defaultKb() {
  const kbs = state.kbs;
  return kbs.length ? (kbs.find((kb) => kb.id === "default") || kbs[0]).id : "";
}
