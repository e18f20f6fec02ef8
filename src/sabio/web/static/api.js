// Talking to Sabio's REST API (/api/v1): JSON calls, server-sent event streams, uploads
// with progress. Errors come as {"error": {"code", "message", "key", "args"}} and become
// ApiError; a request that reaches no server is an ApiError with status 0 and code
// "network" (never the browser's own "Failed to fetch"), and tells onOffline().

export const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, code, message, key = null, args = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.key = key;
    this.args = args || {};
  }
}

const session = { csrf: null, onUnauthorized: null, onOffline: null };

export function setCsrf(token) {
  session.csrf = token || null;
}

export function onUnauthorized(handler) {
  session.onUnauthorized = handler;
}

// `handler()` runs when a request finds no server (the connection banner).
export function onOffline(handler) {
  session.onOffline = handler;
}

function headers(method, json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && session.csrf) h["X-CSRF-Token"] = session.csrf;
  return h;
}

function offline() {
  session.onOffline?.();
  return new ApiError(0, "network", "the server cannot be reached");
}

// fetch, with a network failure (the server is down, the Wi-Fi is gone) as ApiError.
async function request(url, options) {
  try {
    return await fetch(url, { credentials: "same-origin", ...options });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw offline();
  }
}

function apiError(status, statusText, body) {
  const error = body && body.error;
  if (!error) return new ApiError(status, "http", `${status} ${statusText}`);
  return new ApiError(status, error.code, error.message, error.key || null, error.args);
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
  const err = apiError(res.status, res.statusText, body);
  if (res.status === 401 && session.onUnauthorized && !path.startsWith("/auth/")) session.onUnauthorized(err);
  return err;
}

export async function api(method, path, body) {
  const json = body !== undefined;
  const res = await request(API + path, { method, headers: headers(method, json), body: json ? JSON.stringify(body) : undefined });
  if (!res.ok) throw await failure(res, path);
  if (res.status === 204) return null;
  return res.json();
}

// POST a file as the whole body (not a form), with `extra` headers; resolves with the JSON.
export async function sendFile(path, file, extra = {}) {
  const res = await fetch(API + path, {
    method: "POST",
    headers: { ...headers("POST", false), "Content-Type": file.type || "application/octet-stream", ...extra },
    body: file,
    credentials: "same-origin",
  });
  if (!res.ok) throw await failure(res, path);
  return res.json();
}

// POST `body` and yield the server-sent events {event, data} of the answer as they come.
export async function* stream(path, body, signal) {
  const res = await request(API + path, { method: "POST", headers: headers("POST", true), body: JSON.stringify(body), signal });
  if (!res.ok) throw await failure(res, path);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw offline(); // the server went away while it answered
    }
    if (chunk.done) break;
    buffer += decoder.decode(chunk.value, { stream: true });
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

// An `error` event's data as an ApiError (the same shape as a JSON error).
export function eventError(data) {
  return apiError(500, "", data);
}

// Upload one file into a knowledge base (`kb`: its identifier); `progress(fraction)`
// follows the bytes sent. Resolves with the file's result ({status, reason, ...}).
export function upload(kb, file, progress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${API}/kbs/${encodeURIComponent(kb)}/documents`);
    if (session.csrf) xhr.setRequestHeader("X-CSRF-Token", session.csrf);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) progress(e.loaded / e.total);
    };
    xhr.upload.onload = () => progress(1);
    xhr.onerror = () => reject(offline());
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* handled below */
      }
      if (xhr.status >= 200 && xhr.status < 300 && body) resolve(body.files[0]);
      else {
        if (xhr.status === 401 && session.onUnauthorized) session.onUnauthorized();
        reject(apiError(xhr.status, xhr.statusText, body));
      }
    };
    const form = new FormData();
    form.append("files", file, file.name);
    xhr.send(form);
  });
}
