// The generic API as the page calls it: JSON in and out, the bearer token (asked for once
// and kept in sessionStorage, for this tab only) on every request, and errors as ApiError
// with the server's detail, error code, typed detail and the field it concerns.
import { $ } from './dom.js';

const KEY = 'modeld.token';

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || body?.error || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
  get field() { return this.body.field; }
  get reason() { return this.body.error_detail?.reason; }
}

export function token() { return sessionStorage.getItem(KEY) || ''; }

let asking = null;
// Shows the token dialog (once, however many requests were refused) and resolves when a
// token is entered.
export function askToken(message = '') {
  if (asking) return asking;
  const dialog = $('token-dialog');
  const input = $('token-input');
  $('token-error').textContent = message;
  asking = new Promise((resolve) => {
    let done = false;
    const submit = (ev) => {
      ev.preventDefault();
      const value = input.value.trim();
      if (!value) { $('token-error').textContent = 'Enter the token the server was started with.'; return; }
      sessionStorage.setItem(KEY, value);
      done = true;
      $('token-form').removeEventListener('submit', submit);
      dialog.removeEventListener('cancel', stay);
      dialog.removeEventListener('close', reopen);
      dialog.close();
      asking = null;
      resolve(value);
    };
    // Nothing works without the token: Escape does not close the dialog, and if the
    // browser closes it anyway, it opens again.
    const stay = (e) => e.preventDefault();
    const reopen = () => { if (!done) { dialog.showModal(); input.focus(); } };
    $('token-form').addEventListener('submit', submit);
    dialog.addEventListener('cancel', stay);
    dialog.addEventListener('close', reopen);
  });
  input.value = '';
  dialog.showModal();
  input.focus();
  return asking;
}

// fetch() of the API: resolves the parsed JSON body; throws ApiError for an HTTP error and
// TypeError when the server cannot be reached. A 401 asks for the token and tries again.
export async function api(method, path, body) {
  for (let attempt = 0; ; attempt++) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const t = token();
    if (t) headers.Authorization = `Bearer ${t}`;
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                    cache: 'no-store' });
    let data = null;
    try { data = await res.json(); } catch { /* not JSON */ }
    if (res.status === 401 && attempt < 5) {
      if (t) sessionStorage.removeItem(KEY);
      await askToken(t ? 'That token was refused.' : '');
      continue;
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }
}

// The WebSocket URL of |path| on this origin, with the token as ?token= (a browser cannot
// set headers on a WebSocket).
export function socketUrl(path) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const t = token();
  return `${scheme}//${location.host}${path}${t ? `?token=${encodeURIComponent(t)}` : ''}`;
}
