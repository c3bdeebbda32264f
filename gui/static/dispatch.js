// The dispatch page: the transport graph, the lattice panel and the node panel, kept live by the event stream.

import { api, subscribe } from './api.js';
import { h, fill, fmtTime, fmtDur, runtime, statusBadge, pretty, longText, valueView, dispatchLink, confirmAction, afterPaint, throttle } from './dom.js';
import { buildModel, GraphView } from './graph.js';
import { timings } from './timings.js';

const STATUSES = ['NEW_OBJECT', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'];

function field(label, ...value) { return h('tr', null, h('th', null, label), h('td', null, ...value)); }

function section(title, ...body) { return h('section', null, h('h4', null, title), ...body); }

// entrySource finds the declaration of symbol in a shipped program: declarations sit behind /*line*/ directives,
// and synthesised ones (func literals, captured values) start a line of their own.
function entrySource(src, symbol) {
  if (!src || !symbol) return '';
  const esc = symbol.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^(func|var|const)\\s+(\\([^)]*\\)\\s*)?${esc}\\b`);
  for (const piece of src.split(/\/\*line [^*]*\*\/|\n(?=(?:func|var|const|type|import)\b)/)) {
    const text = piece.replace(/^\s+/, '').replace(/\s+$/, '');
    if (re.test(text)) return text;
  }
  return '';
}

export function dispatchPage(main, params, id) {
  const t0 = performance.now();
  let result = null, graph = null, program = null, selected = null, closed = false;
  let opts = { params: params.get('params') === '1', collections: params.get('collections') !== '0' };
  const pending = []; // events that arrive while the state is being read

  const head = h('div', { class: 'dhead' });
  const counts = h('span', { class: 'counts' });
  const panel = h('aside', { class: 'panel', id: 'panel' });
  const host = h('div', { class: 'graph-host' });
  const findBox = h('input', { type: 'search', placeholder: 'find node (name or id)', class: 'find', 'aria-label': 'find node' });
  const paramsBox = h('input', { type: 'checkbox', id: 'opt-params' });
  const collBox = h('input', { type: 'checkbox', id: 'opt-collections' });
  paramsBox.checked = opts.params;
  collBox.checked = opts.collections;
  const view = new GraphView(host, { onSelect: (n) => selectNode(n) });
  const toolbar = h('div', { class: 'toolbar' },
    h('button', { type: 'button', onclick: () => view.fit(), title: 'fit the graph to the window' }, 'Fit'),
    h('button', { type: 'button', onclick: () => view.zoomBy(1.25), title: 'zoom in' }, '+'),
    h('button', { type: 'button', onclick: () => view.zoomBy(0.8), title: 'zoom out' }, '−'),
    h('label', null, paramsBox, ' parameters'),
    h('label', null, collBox, ' collections'),
    findBox, counts);
  main.append(h('div', { class: 'dispatch-page' }, head, h('div', { class: 'split' }, h('div', { class: 'graph-pane' }, toolbar, host), panel)));

  const redraw = () => {
    const r = view.render(buildModel(graph, opts));
    view.fit();
    return r;
  };
  const setOpt = () => {
    opts = { params: paramsBox.checked, collections: collBox.checked };
    redraw();
  };
  paramsBox.addEventListener('change', setOpt);
  collBox.addEventListener('change', setOpt);
  findBox.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    const key = view.find(findBox.value);
    findBox.classList.toggle('notfound', !key);
    if (key) {
      view.centerOn(key);
      selectNode(view.els.get(key).model);
    }
  });

  const showError = (err) => {
    fill(head, h('p', { class: 'error' }, String(err.message || err)));
  };

  function renderHead() {
    const r = result;
    const actions = [];
    if (!['COMPLETED', 'FAILED', 'CANCELLED'].includes(r.status)) {
      actions.push(h('button', { type: 'button', class: 'danger', id: 'cancel-dispatch', onclick: cancelDispatch }, 'Cancel dispatch'));
    } else if (!r.parent_id) {
      actions.push(h('button', { type: 'button', class: 'danger', id: 'delete-dispatch', onclick: deleteDispatch }, 'Delete dispatch'));
    }
    fill(head,
      h('h2', null, h('span', { class: 'dname' }, r.name || '(unnamed)'), ' ', statusBadge(r.status)),
      h('div', { class: 'meta' },
        h('code', null, r.dispatch_id),
        r.parent_id ? h('span', null, ' · sublattice of ', dispatchLink(r.parent_id)) : null,
        r.start_time ? ` · started ${fmtTime(r.start_time)}` : '',
        r.start_time ? ` · ${r.end_time ? 'ran' : 'running for'} ${fmtDur(runtime(r))}` : ''),
      h('div', { class: 'actions' }, ...actions, h('button', { type: 'button', onclick: () => selectNode(null) }, 'Lattice details')));
    const n = {};
    for (const st of STATUSES) n[st] = 0;
    for (const nd of r.nodes) n[nd.status] = (n[nd.status] || 0) + 1;
    fill(counts, ...STATUSES.filter((st) => n[st]).map((st) => h('span', { class: `count st-${st}` }, `${st.toLowerCase().replace('_object', '')} ${n[st]}`)));
  }

  async function cancelDispatch() {
    if (!(await confirmAction(`Cancel dispatch ${result.name || id}? Its running nodes are stopped.`, 'Cancel dispatch'))) return;
    try {
      await api(`/dispatches/${encodeURIComponent(id)}/cancel`, { method: 'POST', body: {} });
    } catch (err) {
      showError(err);
    }
  }

  async function deleteDispatch() {
    if (!(await confirmAction(`Delete dispatch ${result.name || id} and all its results? This cannot be undone.`, 'Delete'))) return;
    try {
      await api(`/dispatches/${encodeURIComponent(id)}`, { method: 'DELETE' });
      location.hash = '#/dispatches';
    } catch (err) {
      showError(err);
    }
  }

  async function loadProgram() {
    if (program == null) program = (await api(`/dispatches/${encodeURIComponent(id)}/program`)).source || '';
    return program;
  }

  // sourceSection is a collapsed section that fetches the program when opened.
  function sourceSection(symbol) {
    const body = h('div', null);
    const det = h('details', { class: 'source' }, h('summary', null, symbol ? 'Source' : 'Program source'), body);
    det.addEventListener('toggle', async () => {
      if (!det.open || body.childNodes.length) return;
      try {
        const src = await loadProgram();
        const text = symbol ? entrySource(src, symbol) || src : src;
        body.append(text ? longText(text, 'code') : h('p', { class: 'muted' }, 'no program (the graph was posted without one)'));
      } catch (err) {
        body.append(h('p', { class: 'error' }, err.message));
      }
    });
    return det;
  }

  function latticePanel() {
    const r = result;
    const failed = r.nodes.filter((n) => n.status === 'FAILED');
    fill(panel,
      h('h3', null, 'Lattice'),
      h('table', { class: 'kv' },
        field('Name', r.name || ''),
        field('Status', statusBadge(r.status)),
        field('Dispatch id', h('code', null, r.dispatch_id)),
        r.parent_id ? field('Parent', dispatchLink(r.parent_id)) : null,
        field('Started', fmtTime(r.start_time)),
        field('Ended', fmtTime(r.end_time)),
        field('Run time', fmtDur(runtime(r))),
        field('Nodes', String(r.nodes.length))),
      r.error ? section('Error', longText(r.error, 'error')) : null,
      failed.length ? section('Failed nodes', h('ul', null, ...failed.slice(0, 20).map((n) => h('li', null,
        h('button', { type: 'button', class: 'link', onclick: () => selectNode(view.els.get(String(n.node_id))?.model || { id: n.node_id, key: String(n.node_id) }) }, `${n.name} (node ${n.node_id})`))))) : null,
      section('Inputs', longText(pretty(r.inputs ?? null), 'json')),
      section('Result', r.status === 'COMPLETED' ? valueView(r.result, 'json') : h('p', { class: 'muted' }, ['FAILED', 'CANCELLED'].includes(r.status) ? 'none' : 'not available yet')),
      r.notes && r.notes.length ? section('Notes', h('ul', null, ...r.notes.map((t) => h('li', null, t)))) : null,
      sourceSection(''));
  }

  async function nodePanel(n) {
    if (n.kind === 'parameter') {
      fill(panel, h('h3', null, 'Parameter'), h('table', { class: 'kv' },
        field('Name', n.param.name || ''), field('Of node', String(n.param.node))), section('Value', longText(pretty(n.param.value ?? null), 'json')));
      return;
    }
    let nd;
    try {
      nd = await api(`/dispatches/${encodeURIComponent(id)}/nodes/${n.id}`);
    } catch (err) {
      fill(panel, h('p', { class: 'error' }, err.message));
      return;
    }
    if (closed || !selected || selected.key !== String(n.id)) return; // another node was chosen meanwhile
    const gn = graph.nodes[n.id] || {};
    const inputs = (gn.args || []).map((a, i) => {
      const name = a.name || `[${i}]`;
      if (a.node == null) return field(name, valueView(a.value, 'json small'));
      const src = result.nodes[a.node] || {};
      return field(name, h('button', { type: 'button', class: 'link', onclick: () => selectNode(view.els.get(String(a.node))?.model || { id: a.node, key: String(a.node) }) }, `node ${a.node} (${src.name || ''})`),
        src.status === 'COMPLETED' && src.output !== undefined ? valueView(src.output, 'json small') : h('span', { class: 'muted' }, ' ' + (src.status || '')));
    });
    const running = !['COMPLETED', 'FAILED', 'CANCELLED'].includes(nd.status);
    fill(panel,
      h('h3', null, h('span', { class: 'nname' }, nd.name), ' ', statusBadge(nd.status)),
      h('table', { class: 'kv' },
        field('Node', `${nd.node_id} (${nd.kind})`),
        field('Status', statusBadge(nd.status)),
        field('Executor', nd.executor || gn.executor || ''),
        gn.queue ? field('Queue', gn.queue) : null,
        field('Started', fmtTime(nd.start_time)),
        field('Ended', fmtTime(nd.end_time)),
        field('Run time', fmtDur(runtime(nd))),
        nd.attempts ? field('Attempts', String(nd.attempts)) : null,
        nd.sub_dispatch_id ? field('Sub-dispatch', h('a', { href: '#/dispatches/' + encodeURIComponent(nd.sub_dispatch_id), id: 'sub-dispatch' }, nd.sub_dispatch_id)) : null),
      running ? h('div', { class: 'actions' }, h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (await confirmAction(`Cancel node ${nd.node_id} (${nd.name})?`, 'Cancel node')) api(`/dispatches/${encodeURIComponent(id)}/cancel`, { method: 'POST', body: { nodes: [nd.node_id] } }).catch(showError);
      } }, 'Cancel node')) : null,
      nd.error ? section('Error', longText(nd.error, 'error node-error')) : null,
      nd.stack ? section('Traceback', longText(nd.stack, 'error node-stack')) : null,
      inputs.length ? section('Inputs', h('table', { class: 'kv' }, ...inputs)) : null,
      section('Output', nd.status === 'COMPLETED' ? valueView(nd.output, 'json node-output') : h('p', { class: 'muted' }, running ? 'not available yet' : 'none')),
      nd.stdout ? section('stdout', longText(nd.stdout, 'out node-stdout')) : null,
      nd.stderr ? section('stderr', longText(nd.stderr, 'out node-stderr')) : null,
      gn.entry ? sourceSection(gn.entry) : null);
  }

  function selectNode(n) {
    selected = n;
    view.select(n ? n.key : null);
    const q = new URLSearchParams(params);
    if (n && n.id != null) q.set('node', n.id);
    else q.delete('node');
    const qs = q.toString();
    history.replaceState(null, '', `#/dispatches/${encodeURIComponent(id)}${qs ? '?' + qs : ''}`);
    if (n) nodePanel(n);
    else latticePanel();
    shownPanel = result ? panelKey(result) : null;
  }

  // panelKey sums up what the open panel shows, so that it is rebuilt (losing an open section and the scroll
  // position) only when that changes, not whenever some other node finishes.
  function panelKey(r) {
    if (!selected) return `lattice ${r.status} ${r.end_time || ''}`;
    const nd = selected.id != null ? r.nodes[selected.id] : null;
    if (!nd) return null;
    const inputs = (nd.deps || []).map((d) => r.nodes[d]?.status).join(',');
    return `node ${selected.id} ${nd.status} ${nd.end_time || ''} ${nd.attempts || 0} ${inputs}`;
  }
  let shownPanel = null;

  function applyResult(r) {
    result = r;
    for (const nd of r.nodes) view.setStatus(nd.node_id, nd.status);
    renderHead();
    const key = panelKey(r);
    if (key !== null && key === shownPanel) return;
    shownPanel = key;
    if (!selected) latticePanel();
    else if (selected.id != null) nodePanel(selected);
  }

  const refresh = throttle(async () => {
    try {
      applyResult(await api(`/dispatches/${encodeURIComponent(id)}`));
    } catch (err) {
      showError(err);
    }
  }, 250);
  const refreshNode = throttle(() => { if (selected) nodePanel(selected); }, 150);
  const recount = throttle(() => renderHead(), 200);

  function onEvent(ev) {
    if (!result) {
      pending.push(ev);
      return;
    }
    if (ev.type === 'node' && ev.node_id != null) {
      const nd = result.nodes[ev.node_id];
      if (nd) nd.status = ev.status;
      view.setStatus(ev.node_id, ev.status);
      recount();
      if (selected && selected.id === ev.node_id) refreshNode();
      // outputs shown as inputs of the selected node, and times: read again once things settle
      if (ev.status === 'COMPLETED' || ev.status === 'FAILED') refresh();
    } else if (ev.type === 'dispatch') {
      refresh();
    }
  }

  // The state is read at once and again whenever the stream (re)opens: events missed in between are then seen.
  let state = 'loading', resync = false;
  async function load() {
    try {
      const [r, g] = await Promise.all([api(`/dispatches/${encodeURIComponent(id)}`), api(`/dispatches/${encodeURIComponent(id)}/graph`)]);
      if (closed) return;
      const tFetched = performance.now();
      graph = g;
      for (const nd of r.nodes) view.statuses.set(nd.node_id, nd.status);
      const drawn = redraw();
      result = r;
      renderHead();
      const nodeParam = params.get('node');
      const want = nodeParam != null ? view.els.get(nodeParam)?.model : null;
      if (want) selectNode(want);
      else latticePanel();
      for (const ev of pending.splice(0)) onEvent(ev);
      state = 'loaded';
      if (resync) refresh();
      const tDone = performance.now();
      afterPaint(() => {
        timings.graph = { nodes: g.nodes.length, drawn: view.els.size, fetch: tFetched - t0, layout: drawn.layout, draw: drawn.draw, dom: tDone - t0, total: performance.now() - t0, sinceLoad: performance.now() };
        host.setAttribute('data-ready', '1'); // the graph is painted and fitted: it will not move under a click
      });
    } catch (err) {
      showError(err);
    }
  }

  const close = subscribe({ dispatch_id: id }, onEvent, () => {
    if (state === 'loaded') refresh();
    else resync = true;
  });
  load();
  return () => {
    closed = true;
    close();
    refresh.cancel();
    refreshNode.cancel();
    recount.cancel();
  };
}
