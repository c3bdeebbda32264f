// API access: JSON requests with the user's token (when the dispatcher has one), and the live event stream.

const TOKEN_KEY = 'govalent.token';

export function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// askToken shows the token dialog; the page is re-rendered with the new token.
function askToken() {
  const dlg = document.getElementById('token');
  if (dlg.open) return;
  const input = document.getElementById('token-input');
  input.value = '';
  document.getElementById('token-ok').onclick = () => {
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    dlg.close();
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  };
  dlg.showModal();
}

// api calls /api/v1 + path and returns the decoded JSON; errors carry the API's message.
export async function api(path, { method = 'GET', body } = {}) {
  const headers = {};
  if (token()) headers.Authorization = 'Bearer ' + token();
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch('/api/v1' + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: text };
  }
  if (!resp.ok) {
    if (resp.status === 401) askToken();
    throw new APIError(resp.status, (data && data.error) || resp.statusText);
  }
  return data;
}

const live = () => document.getElementById('live');

function setLive(on) {
  const el = live();
  el.className = on ? 'live on' : 'live off';
  el.textContent = on ? 'live' : 'reconnecting';
}

// subscribe opens the event stream (filtered by params: dispatch_id, type) and calls onEvent for every event.
// onSync runs once the stream is open, and again after every reconnection or "lagged" event: events may have
// been missed, so the page re-reads its state then. EventSource retries a dropped connection by itself but
// gives up on an HTTP error (a restarting dispatcher's proxy, a 401); then the stream is opened anew after a
// pause. Returns a function that closes the stream.
export function subscribe(params, onEvent, onSync) {
  const q = new URLSearchParams(params);
  if (token()) q.set('token', token());
  let es = null, retry = null, closed = false;
  const handle = (e) => {
    let ev;
    try {
      ev = JSON.parse(e.data);
    } catch {
      return;
    }
    if (ev.type === 'lagged') onSync();
    else onEvent(ev);
  };
  const open = () => {
    es = new EventSource('/api/v1/events?' + q);
    for (const t of ['dispatch', 'node', 'lagged']) es.addEventListener(t, handle);
    es.addEventListener('open', () => { setLive(true); onSync(); });
    es.addEventListener('error', () => {
      setLive(false);
      if (es.readyState === EventSource.CLOSED && !closed) retry = setTimeout(open, 3000);
    });
  };
  open();
  return () => { closed = true; clearTimeout(retry); es.close(); };
}
