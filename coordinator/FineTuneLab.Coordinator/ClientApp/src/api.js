// The REST client: adds the API key (asked once on a 401, kept in localStorage) and turns error bodies into exceptions.
const keyName = "ftl-api-key";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.details = body?.details ?? [];
  }
}

export function authHeaders() {
  const key = localStorage.getItem(keyName);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

export async function request(path, { method = "GET", body, raw = false } = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = { ...authHeaders() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
    if (response.status === 401 && attempt === 0) {
      const key = prompt("This coordinator needs an API key:");
      if (key) { localStorage.setItem(keyName, key.trim()); continue; }
    }
    if (raw) return response;
    const text = await response.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch { parsed = { error: text }; }
    if (!response.ok) throw new ApiError(response.status, parsed);
    return parsed;
  }
}

/** Downloads through fetch (so the API key header goes along) and saves the bytes under the server's file name. */
export async function download(path, fallbackName) {
  const response = await request(path, { raw: true });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const name = /filename="?([^";]+)"?/.exec(disposition)?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
