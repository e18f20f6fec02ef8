// Talking to Sabio's REST API (/api/v1): JSON calls, server-sent event streams, uploads
// with progress. Errors come as {"error": {"code", "message"}} and become ApiError; the
// few a user must act on (a full or read-only data directory, too many sign-ins) get a
// message in the page's language.

import { t } from "./i18n.js";

export const API = "/api/v1";
const TRANSLATED = new Set(["insufficient_storage", "read_only", "too_many_attempts"]);

// The message to show for an error `code` (the server's English one unless translated).
function errorMessage(code, message, retryAfter) {
  return TRANSLATED.has(code) ? t(`error.${code}`, { seconds: retryAfter || "?" }) : message;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const session = { csrf: null, onUnauthorized: null };

export function setCsrf(token) {
  session.csrf = token || null;
}

export function onUnauthorized(handler) {
  session.onUnauthorized = handler;
}

function headers(method, json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && session.csrf) h["X-CSRF-Token"] = session.csrf;
  return h;
}

// A 401 means the session ended: the page shows the sign-in form (except for the
// sign-in itself, whose 401 is a wrong password).
async function failure(res, path) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON: a proxy or a crash page */
  }
  const error = body && body.error;
  const message = error ? errorMessage(error.code, error.message, res.headers.get("Retry-After")) : `${res.status} ${res.statusText}`;
  const err = new ApiError(res.status, error ? error.code : "http", message);
  if (res.status === 401 && session.onUnauthorized && !path.startsWith("/auth/")) session.onUnauthorized(err);
  return err;
}

export async function api(method, path, body) {
  const json = body !== undefined;
  const res = await fetch(API + path, {
    method,
    headers: headers(method, json),
    body: json ? JSON.stringify(body) : undefined,
    credentials: "same-origin",
  });
  if (!res.ok) throw await failure(res, path);
  if (res.status === 204) return null;
  return res.json();
}

// POST `body` and yield the server-sent events {event, data} of the answer as they come.
export async function* stream(path, body, signal) {
  const res = await fetch(API + path, {
    method: "POST",
    headers: headers("POST", true),
    body: JSON.stringify(body),
    credentials: "same-origin",
    signal,
  });
  if (!res.ok) throw await failure(res, path);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      yield { event, data: data ? JSON.parse(data) : null };
    }
  }
}

// Upload one file into a knowledge base; `progress(fraction)` follows the bytes sent.
// Resolves with the file's result ({status, reason, passages, ...}).
export function upload(kb, file, progress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${API}/kbs/${encodeURIComponent(kb)}/documents`);
    if (session.csrf) xhr.setRequestHeader("X-CSRF-Token", session.csrf);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) progress(e.loaded / e.total);
    };
    xhr.upload.onload = () => progress(1);
    xhr.onerror = () => reject(new ApiError(0, "network", "network error"));
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* handled below */
      }
      if (xhr.status >= 200 && xhr.status < 300 && body) resolve(body.files[0]);
      else {
        const error = body && body.error;
        if (xhr.status === 401 && session.onUnauthorized) session.onUnauthorized();
        const message = error ? errorMessage(error.code, error.message, xhr.getResponseHeader("Retry-After")) : `${xhr.status} ${xhr.statusText}`;
        reject(new ApiError(xhr.status, error ? error.code : "http", message));
      }
    };
    const form = new FormData();
    form.append("files", file, file.name);
    xhr.send(form);
  });
}
