// Talking to Sabio: finding it, the token the pairing gave, JSON calls and streamed
// answers. Every request goes to the one Sabio the user connected (its address kept in
// the extension's storage), never to anything else; the token goes only there.

const api = globalThis.browser ?? globalThis.chrome;

export const DEFAULT_SERVER = "http://127.0.0.1:11435";
const CANDIDATES = [DEFAULT_SERVER, "http://localhost:11435"];
const REST = "/api/v1";

export class SabioError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code ?? "";
    this.key = error?.key ?? "";
  }
}

export async function saved() {
  return api.storage.local.get(["server", "token", "user"]);
}

export async function remember(values) {
  await api.storage.local.set(values);
}

export async function forget() {
  await api.storage.local.remove(["server", "token", "user"]);
}

// The server that answers: the one kept, else this computer's at Sabio's port.
export async function findSabio(address) {
  const kept = await saved();
  const tried = address ? [address] : kept.server ? [kept.server] : CANDIDATES;
  for (const server of tried) {
    const base = server.replace(/\/+$/, "");
    try {
      const health = await fetch(`${base}${REST}/health`, { credentials: "omit" });
      if (!health.ok) continue;
      const status = await (await fetch(`${base}${REST}/auth/status`, { credentials: "omit" })).json();
      return { server: base, auth: Boolean(status.auth) };
    } catch {
      // not there: the next one
    }
  }
  return null;
}

export class Sabio {
  constructor(server, token) {
    this.server = server;
    this.token = token || "";
  }

  async request(method, path, { json, body, type, query } = {}) {
    const headers = { Accept: "application/json, text/event-stream" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (json !== undefined) headers["Content-Type"] = "application/json";
    else if (type) headers["Content-Type"] = type;
    const url = new URL(`${this.server}${REST}${path}`);
    for (const [name, value] of Object.entries(query ?? {})) url.searchParams.set(name, value);
    const response = await fetch(url, {
      method,
      headers,
      body: json !== undefined ? JSON.stringify(json) : body,
      credentials: "omit",
    });
    if (!response.ok) {
      const error = await response.json().catch(() => ({}));
      throw new SabioError(response.status, error.error);
    }
    return response;
  }

  async json(method, path, options) {
    return (await this.request(method, path, options)).json();
  }

  // A streamed answer: calls onEvent(name, data) for each server-sent event.
  async stream(path, json, onEvent) {
    const response = await this.request("POST", path, { json });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const name = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (data !== undefined) onEvent(name, JSON.parse(data));
        end = buffer.indexOf("\n\n");
      }
    }
  }
}
