// Talking to cronhook: same-origin fetch with the session cookie, and the
// session's CSRF token in X-Cronhook-Csrf on every request that may change
// something. The API token is never kept here: it is sent once, to log in.

let csrf = null;
let onUnauthorized = () => {};

export class ApiError extends Error {
  constructor(status, message, data) {
    super(message);
    this.status = status;
    this.data = data;
  }
}

export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/** A query string from an object: arrays repeat the key, empty values are left out. */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v == null || v === '') continue;
    if (Array.isArray(v)) {
      for (const x of v) if (x != null && x !== '') q.append(k, String(x));
    } else q.set(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

/**
 * api(method, path, {query, json, body, headers, signal}) → the decoded JSON
 * answer (or text). Throws ApiError with the API's own error text.
 */
export async function api(method, path, opts = {}) {
  const headers = new Headers(opts.headers || {});
  const safe = method === 'GET' || method === 'HEAD';
  if (!safe && csrf) headers.set('X-Cronhook-Csrf', csrf);
  const init = { method, headers, credentials: 'same-origin', signal: opts.signal, cache: 'no-store' };
  if (opts.json !== undefined) {
    headers.set('Content-Type', 'application/json');
    init.body = JSON.stringify(opts.json);
  } else if (opts.body !== undefined) {
    init.body = opts.body;
  }
  const res = await fetch(path + qs(opts.query), init);
  const text = await res.text();
  let data = text;
  if (text && (res.headers.get('content-type') || '').includes('json')) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    const message = (data && typeof data === 'object' && data.error) || text || `${res.status} ${res.statusText}`;
    if (res.status === 401 && !opts.noAuthRedirect) onUnauthorized(message);
    throw new ApiError(res.status, message, data);
  }
  return data;
}

export const get = (path, query, opts = {}) => api('GET', path, { ...opts, query });

/** The session: {authenticated, csrf?, devMode}. */
export async function session() {
  const s = await api('GET', '/cronhook/v1/session', { noAuthRedirect: true });
  csrf = s.authenticated ? s.csrf : null;
  return s;
}

export async function login(token) {
  const s = await api('POST', '/cronhook/v1/session', { json: { token }, noAuthRedirect: true });
  csrf = s.csrf;
  return s;
}

export async function logout() {
  try {
    await api('DELETE', '/cronhook/v1/session', { noAuthRedirect: true });
  } finally {
    csrf = null;
  }
}
