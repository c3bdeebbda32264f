// DOM helpers. Children that are not nodes become text nodes, and attributes are set with setAttribute: text
// from the API never reaches an HTML parser, so a value like "<script>" is shown, not run.

const SVGNS = 'http://www.w3.org/2000/svg';

function build(el, props, children) {
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// h creates an HTML element: h('a', {href: '#/'}, 'text', child...).
export function h(tag, props, ...children) { return build(document.createElement(tag), props, children); }

// s creates an SVG element.
export function s(tag, props, ...children) { return build(document.createElementNS(SVGNS, tag), props, children); }

function pad(n) { return String(n).padStart(2, '0'); }

// fmtTime shows an ISO time in local time, or '' for none.
export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// fmtDur shows a duration in milliseconds.
export function fmtDur(ms) {
  if (ms == null || !isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr}h ${m % 60}m`;
  return `${Math.floor(hr / 24)}d ${hr % 24}h`;
}

// runtime is the run time of something with start_time and end_time (running: until now).
export function runtime(x) {
  if (!x.start_time) return null;
  const end = x.end_time ? Date.parse(x.end_time) : Date.now();
  return end - Date.parse(x.start_time);
}

export function statusBadge(status) {
  return h('span', { class: `badge st-${status || 'NEW_OBJECT'}` }, status || 'NEW_OBJECT');
}

// pretty formats a decoded JSON value for a <pre>.
export function pretty(v) {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v, null, 2);
}

// longText is a <pre> of text, cut at limit characters with a button to show the rest.
export function longText(text, cls, limit = 20000) {
  const pre = h('pre', { class: cls });
  if (text.length <= limit) {
    pre.textContent = text;
    return pre;
  }
  pre.textContent = text.slice(0, limit);
  const more = h('button', { type: 'button', class: 'link' }, `show all ${text.length.toLocaleString()} characters`);
  more.addEventListener('click', () => { pre.textContent = text; more.remove(); });
  return h('div', null, pre, more);
}

// Images among values: bytes arrive base64-encoded (the API's JSON form of []byte), told apart by their first
// bytes; SVG arrives as text.
const imageMagic = [['iVBORw0KGgo', 'image/png'], ['/9j/', 'image/jpeg'], ['R0lGOD', 'image/gif']];
const base64Text = /^[A-Za-z0-9+/]*={0,2}$/;
const svgText = /^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*<svg[\s>]/;

// imageOf is an <img> showing v when v is an image (a plot an electron returned), or null. SVG goes in an <img>
// as a data URL, where its scripts and links do not run.
export function imageOf(v, cls) {
  if (typeof v !== 'string') return null;
  for (const [magic, type] of imageMagic) {
    if (v.startsWith(magic) && base64Text.test(v)) return h('img', { class: cls, src: `data:${type};base64,${v}`, alt: type });
  }
  const t = v.trimStart();
  if (svgText.test(t)) return h('img', { class: cls, src: 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(t), alt: 'image/svg+xml' });
  return null;
}

// valueView shows a value: an image as the image, anything else as text.
export function valueView(v, cls) {
  return imageOf(v, cls + ' image') || longText(pretty(v ?? null), cls);
}

// debounce runs fn at most once per ms, after the last call.
export function debounce(fn, ms) {
  let t = null;
  const d = (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
  d.cancel = () => clearTimeout(t);
  return d;
}

// dispatchLink is a link to a dispatch's page.
export function dispatchLink(id, text) {
  return h('a', { href: '#/dispatches/' + encodeURIComponent(id) }, text ?? id);
}

// confirmAction asks in a modal dialog; resolves true when the user agrees.
export function confirmAction(text, okLabel = 'OK') {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  const ok = document.getElementById('confirm-ok');
  ok.textContent = okLabel;
  return new Promise((resolve) => {
    const done = (v) => () => { dlg.close(); cleanup(); resolve(v); };
    const yes = done(true), no = done(false);
    const cancelled = () => { cleanup(); resolve(false); };
    function cleanup() {
      ok.removeEventListener('click', yes);
      document.getElementById('confirm-cancel').removeEventListener('click', no);
      dlg.removeEventListener('cancel', cancelled);
    }
    ok.addEventListener('click', yes);
    document.getElementById('confirm-cancel').addEventListener('click', no);
    dlg.addEventListener('cancel', cancelled);
    dlg.showModal();
  });
}

// fill replaces el's children, skipping null and false like h does (replaceChildren would show them as text).
export function fill(el, ...children) {
  el.replaceChildren();
  return build(el, null, children);
}

// afterPaint runs fn once the browser has painted the current changes (a frame, then a task).
export function afterPaint(fn) { requestAnimationFrame(() => setTimeout(fn, 0)); }

// throttle runs fn ms after the first of a burst of calls, then again for calls after that: unlike debounce, a
// steady stream of events cannot postpone it forever.
export function throttle(fn, ms) {
  let t = null;
  const d = () => {
    if (t === null) t = setTimeout(() => { t = null; fn(); }, ms);
  };
  d.cancel = () => { clearTimeout(t); t = null; };
  return d;
}
