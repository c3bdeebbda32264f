// The web UI's router and its pages: dashboard, dispatch list, workers and queues, logs. The dispatch page is
// in dispatch.js. Every page returns a function that stops its timers and event streams when it is left.

import { api, subscribe } from './api.js';
import { h, fill, fmtTime, fmtDur, runtime, statusBadge, debounce, dispatchLink, confirmAction, afterPaint, throttle } from './dom.js';
import { dispatchPage } from './dispatch.js';
import { timings } from './timings.js';

const STATUSES = ['NEW_OBJECT', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'];
const PAGE_SIZE = 50;

function errorBox(err) { return h('p', { class: 'error' }, String(err.message || err)); }

function firstLine(text, n = 160) {
  const line = (text || '').split('\n')[0];
  return line.length > n ? line.slice(0, n - 1) + '…' : line;
}

// ---- dashboard ----

function card(label, value, cls) { return h('div', { class: 'card ' + (cls || '') }, h('div', { class: 'value' }, value), h('div', { class: 'label' }, label)); }

function smallTable(items, cols) {
  if (!items.length) return h('p', { class: 'muted' }, 'none');
  return h('table', { class: 'list' }, h('thead', null, h('tr', null, ...cols.map((c) => h('th', null, c[0])))),
    h('tbody', null, ...items.map((it) => h('tr', null, ...cols.map((c) => h('td', null, c[1](it)))))));
}

function dashboard(main) {
  const body = h('div', { class: 'dashboard' });
  main.append(h('h2', null, 'Dashboard'), body);
  const load = throttle(async () => {
    try {
      const [sum, running] = await Promise.all([api('/summary'), api('/dispatches?status=RUNNING&limit=10&sort=started')]);
      const c = sum.summary.counts || {};
      fill(body,
        h('div', { class: 'cards' },
          card('dispatches', String(sum.summary.total)),
          ...STATUSES.map((st) => card(st.toLowerCase().replace('_object', ''), String(c[st] || 0), 'st-' + st)),
          card('compute time (nodes)', fmtDur(sum.summary.compute_ns / 1e6) || '0 ms'),
          card('wall time (dispatches)', fmtDur(sum.summary.wall_ns / 1e6) || '0 ms')),
        h('h3', null, `Running now (${sum.running_now})`),
        smallTable(running.items, [['dispatch', (d) => dispatchLink(d.dispatch_id, d.name || d.dispatch_id)], ['started', (d) => fmtTime(d.start_time)], ['running for', (d) => fmtDur(runtime(d))]]),
        h('h3', null, 'Recent failures'),
        smallTable(sum.recent_failures, [['dispatch', (d) => dispatchLink(d.dispatch_id, d.name || d.dispatch_id)], ['ended', (d) => fmtTime(d.end_time)], ['error', (d) => h('span', { class: 'error-text' }, firstLine(d.error))]]));
    } catch (err) {
      fill(body, errorBox(err));
    }
  }, 200);
  load();
  const close = subscribe({ type: 'dispatch' }, load, load);
  const tick = setInterval(load, 10000); // running times move on
  return () => { close(); clearInterval(tick); load.cancel(); };
}

// ---- dispatch list ----

function listPage(main, params) {
  const t0 = performance.now();
  const q = {
    search: params.get('search') || '', status: params.get('status') || '', sort: params.get('sort') || 'created',
    order: params.get('order') || 'desc', page: Math.max(0, parseInt(params.get('page') || '0', 10) || 0),
  };
  const search = h('input', { type: 'search', id: 'search', placeholder: 'search id or name', value: q.search, 'aria-label': 'search' });
  const status = h('select', { id: 'status-filter', 'aria-label': 'status' }, h('option', { value: '' }, 'any status'), ...STATUSES.map((st) => h('option', { value: st }, st)));
  status.value = q.status;
  const sort = h('select', { id: 'sort', 'aria-label': 'sort by' }, ...[['created', 'created'], ['started', 'start'], ['ended', 'end'], ['runtime', 'run time'], ['name', 'name']].map(([v, l]) => h('option', { value: v }, 'sort by ' + l)));
  sort.value = q.sort;
  const order = h('select', { id: 'order', 'aria-label': 'order' }, h('option', { value: 'desc' }, 'descending'), h('option', { value: 'asc' }, 'ascending'));
  order.value = q.order;
  const pager = h('div', { class: 'pager' });
  const table = h('table', { class: 'list dispatches' });
  const msg = h('div');
  main.append(h('h2', null, 'Dispatches'), h('div', { class: 'filters' }, search, status, sort, order), msg, table, pager);

  function syncURL() {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v && !(k === 'sort' && v === 'created') && !(k === 'order' && v === 'desc')) u.set(k, v);
    const s = u.toString();
    history.replaceState(null, '', '#/dispatches' + (s ? '?' + s : ''));
  }

  async function act(d, what) {
    const isCancel = what === 'cancel';
    const ok = await confirmAction(isCancel ? `Cancel dispatch ${d.name || d.dispatch_id}?` : `Delete dispatch ${d.name || d.dispatch_id} and all its results? This cannot be undone.`,
      isCancel ? 'Cancel dispatch' : 'Delete');
    if (!ok) return;
    try {
      if (isCancel) await api(`/dispatches/${encodeURIComponent(d.dispatch_id)}/cancel`, { method: 'POST', body: {} });
      else await api(`/dispatches/${encodeURIComponent(d.dispatch_id)}`, { method: 'DELETE' });
      fill(msg);
    } catch (err) {
      fill(msg, errorBox(err));
    }
    load();
  }

  function row(d) {
    const finished = ['COMPLETED', 'FAILED', 'CANCELLED'].includes(d.status);
    return h('tr', { 'data-id': d.dispatch_id },
      h('td', null, dispatchLink(d.dispatch_id, d.dispatch_id.slice(0, 8))),
      h('td', { class: 'name' }, dispatchLink(d.dispatch_id, d.name || '(unnamed)')),
      h('td', null, statusBadge(d.status)),
      h('td', null, fmtTime(d.start_time)),
      h('td', null, fmtTime(d.end_time)),
      h('td', { class: 'num' }, fmtDur(runtime(d))),
      h('td', { class: 'error-text' }, firstLine(d.error, 80)),
      h('td', { class: 'row-actions' }, finished
        ? h('button', { type: 'button', class: 'small danger delete', onclick: () => act(d, 'delete') }, 'Delete')
        : h('button', { type: 'button', class: 'small danger cancel', onclick: () => act(d, 'cancel') }, 'Cancel')));
  }

  let seq = 0;
  let shown = ''; // what the table shows, to rebuild it only when that changes
  async function load() {
    const my = ++seq;
    const u = new URLSearchParams({ limit: PAGE_SIZE, offset: q.page * PAGE_SIZE, sort: q.sort, order: q.order });
    if (q.search) u.set('search', q.search);
    if (q.status) u.set('status', q.status);
    let data;
    try {
      data = await api('/dispatches?' + u);
    } catch (err) {
      if (my === seq) fill(msg, errorBox(err));
      return;
    }
    if (my !== seq) return; // a newer query is on its way
    fill(msg);
    const key = JSON.stringify([q.page, data]);
    if (key === shown) { // nothing changed: keep the rows, and a click landing on them, in place
      table.setAttribute('data-ready', String(my));
      return;
    }
    shown = key;
    const tFetched = performance.now();
    fill(table,
      h('thead', null, h('tr', null, ...['id', 'name', 'status', 'started', 'ended', 'run time', 'error', ''].map((c) => h('th', null, c)))),
      h('tbody', null, ...data.items.map(row)));
    const first = data.total ? q.page * PAGE_SIZE + 1 : 0, last = q.page * PAGE_SIZE + data.items.length;
    const lastPage = Math.max(0, Math.ceil(data.total / PAGE_SIZE) - 1);
    const go = (p) => () => { q.page = p; syncURL(); load(); };
    fill(pager,
      h('button', { type: 'button', disabled: q.page === 0, onclick: go(0) }, '« first'),
      h('button', { type: 'button', disabled: q.page === 0, onclick: go(q.page - 1) }, '‹ previous'),
      h('span', { class: 'range' }, `${first.toLocaleString()}–${last.toLocaleString()} of ${data.total.toLocaleString()}`),
      h('button', { type: 'button', disabled: q.page >= lastPage, onclick: go(q.page + 1) }, 'next ›'),
      h('button', { type: 'button', disabled: q.page >= lastPage, onclick: go(lastPage) }, 'last »'));
    const tDone = performance.now();
    afterPaint(() => {
      if (my !== seq) return;
      if (!timings.list || timings.list.start !== t0) {
        timings.list = { start: t0, rows: data.items.length, total: data.total, fetch: tFetched - t0, render: tDone - tFetched, all: performance.now() - t0, sinceLoad: performance.now() };
      }
      table.setAttribute('data-ready', String(my));
    });
  }

  const reload = () => { q.page = 0; syncURL(); load(); };
  search.addEventListener('input', debounce(() => { q.search = search.value.trim(); reload(); }, 250));
  status.addEventListener('change', () => { q.status = status.value; reload(); });
  sort.addEventListener('change', () => { q.sort = sort.value; reload(); });
  order.addEventListener('change', () => { q.order = order.value; reload(); });
  load();
  const live = throttle(load, 300);
  const close = subscribe({ type: 'dispatch' }, live, live);
  return () => { close(); live.cancel(); };
}

// ---- workers and queues ----

function workersPage(main) {
  const body = h('div');
  main.append(h('h2', null, 'Workers and queues'), body);
  async function load() {
    try {
      const st = await api('/status');
      const ex = st.executors || [];
      fill(body,
        h('p', { class: 'meta' }, `dispatcher pid ${st.pid} · up ${st.uptime} · ${st.running_dispatches} dispatches running · data in `, h('code', null, st.data_dir)),
        h('h3', null, 'Executors'),
        smallTable(ex, [['name', (e) => e.name], ['workers', (e) => String(e.workers)], ['busy', (e) => String(e.busy)], ['queued', (e) => String(e.queued)], ['done', (e) => String(e.done)]]),
        h('h3', null, 'Remote workers'),
        st.workers && st.workers.length
          ? smallTable(st.workers, [['worker', (w) => w.id], ['host', (w) => w.host], ['pid', (w) => String(w.pid)], ['platform', (w) => w.platform || '?'], ['concurrency', (w) => String(w.concurrency)],
            ['queues', (w) => (w.queues || []).join(', ')], ['running', (w) => String((w.running || []).length)], ['last heartbeat', (w) => fmtTime(w.last_heartbeat)]])
          : h('p', { class: 'muted' }, 'No remote workers: electrons run in the dispatcher\'s own worker processes (start it with --redis to use a Redis pool).'),
        st.queues ? h('h3', null, `Queues (${st.leased || 0} tasks leased)`) : null,
        st.queues ? smallTable(Object.entries(st.queues).sort(), [['queue', (q) => q[0]], ['waiting', (q) => String(q[1])]]) : null);
    } catch (err) {
      fill(body, errorBox(err));
    }
  }
  load();
  const tick = setInterval(load, 2000);
  return () => clearInterval(tick);
}

// ---- logs ----

const LOG_KEEP = 1 << 20; // characters of log kept in the page

function logsPage(main) {
  const pre = h('pre', { class: 'log', id: 'log' });
  const filter = h('input', { type: 'search', placeholder: 'filter lines', 'aria-label': 'filter lines' });
  const follow = h('input', { type: 'checkbox', checked: true });
  const info = h('span', { class: 'muted' });
  const msg = h('div');
  main.append(h('h2', null, 'Dispatcher log'), h('div', { class: 'filters' }, filter, h('label', null, follow, ' follow'), info), msg, pre);
  let text = '', next = null;
  const show = () => {
    const f = filter.value.trim().toLowerCase();
    pre.textContent = f ? text.split('\n').filter((l) => l.toLowerCase().includes(f)).join('\n') : text;
    if (follow.checked) pre.scrollTop = pre.scrollHeight;
  };
  async function load() {
    try {
      const r = await api('/logs' + (next == null ? '' : '?offset=' + next));
      text = (next == null || r.reset ? r.text : text + r.text).slice(-LOG_KEEP);
      next = r.next_offset;
      info.textContent = ` ${r.path} · ${r.size.toLocaleString()} bytes` + (r.truncated ? ' (showing the end)' : '');
      fill(msg);
      show();
    } catch (err) {
      fill(msg, errorBox(err));
    }
  }
  filter.addEventListener('input', debounce(show, 150));
  load();
  const tick = setInterval(() => { if (follow.checked) load(); }, 2000);
  return () => clearInterval(tick);
}

// ---- router ----

const routes = [
  [/^\/?$/, 'dashboard', dashboard],
  [/^\/dispatches\/?$/, 'dispatches', listPage],
  [/^\/dispatches\/([^/]+)$/, 'dispatches', dispatchPage],
  [/^\/workers\/?$/, 'workers', workersPage],
  [/^\/logs\/?$/, 'logs', logsPage],
];

let leave = null;

function route() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const qi = hash.indexOf('?');
  const path = qi < 0 ? hash : hash.slice(0, qi);
  const params = new URLSearchParams(qi < 0 ? '' : hash.slice(qi + 1));
  if (leave) leave();
  leave = null;
  const main = document.getElementById('main');
  fill(main);
  for (const [re, nav, page] of routes) {
    const m = path.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.nav === nav);
    let args;
    try {
      args = m.slice(1).map(decodeURIComponent);
    } catch {
      args = m.slice(1); // a malformed %-escape: look it up as typed
    }
    leave = page(main, params, ...args) || null;
    return;
  }
  main.append(h('p', { class: 'error' }, `No such page: ${hash}`));
}

window.addEventListener('hashchange', route);
route();
