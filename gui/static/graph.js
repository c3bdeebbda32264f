// The transport graph: which nodes and edges to draw (model), a layered layout (Sugiyama style: longest-path
// layers, barycenter ordering, ordered least-squares coordinates) and an SVG view with pan, zoom and fit.

import { s } from './dom.js';

const COLLECTIONS = new Set(['list', 'dict', 'index', 'key', 'field']);
const NODE_H = 30, PARAM_H = 22, LAYER_GAP = 70, NODE_GAP = 24, DUMMY_W = 2, CHAR_W = 7, FAN = 8;

function truncate(text, n) { return text.length > n ? text.slice(0, Math.max(1, n - 1)) + '…' : text; }

function boxWidth(label, kind) {
  if (kind === 'parameter') return Math.min(140, Math.max(44, label.length * 6.5 + 18));
  return Math.min(220, Math.max(kind === 'electron' || kind === 'sublattice' ? 90 : 56, label.length * CHAR_W + 26));
}

function argLabel(arg, i, kind) {
  if (arg.name) return arg.name;
  return kind === 'list' ? `[${i}]` : '';
}

// buildModel picks what to draw. Collection nodes (list, dict, index, key, field) can be hidden: their inputs
// are then drawn straight into their consumers. Constant arguments can be shown as parameter nodes.
export function buildModel(graph, { params = false, collections = true } = {}) {
  const gnodes = graph.nodes || [];
  const hidden = (n) => !collections && COLLECTIONS.has(n.kind);
  const nodes = [];
  for (const n of gnodes) {
    if (hidden(n)) continue;
    let label = n.name || n.kind;
    if (n.kind === 'index') label = `[${n.index ?? 0}]`;
    else if (n.kind === 'key' || n.kind === 'field') label = '.' + (n.key || '');
    nodes.push({ key: String(n.node_id), id: n.node_id, kind: n.kind, label, title: `${n.name || n.kind} (node ${n.node_id}, ${n.kind})` });
  }
  // sources(id) are the visible nodes whose outputs reach node id's consumers.
  const memo = new Map();
  const sources = (id) => {
    const n = gnodes[id];
    if (!n || !hidden(n)) return [String(id)];
    if (memo.has(id)) return memo.get(id);
    const out = [];
    for (const a of n.args || []) if (a.node != null) out.push(...sources(a.node));
    for (const w of n.wait_for || []) out.push(...sources(w));
    const uniq = [...new Set(out)];
    memo.set(id, uniq);
    return uniq;
  };
  const edges = new Map(); // "from>to" -> edge; parallel edges share one line with their labels joined
  const addEdge = (from, to, label, wait) => {
    const k = from + '>' + to;
    const e = edges.get(k);
    if (!e) edges.set(k, { from, to, labels: label ? [label] : [], wait });
    else {
      if (label && !e.labels.includes(label)) e.labels.push(label);
      e.wait = e.wait && wait;
    }
  };
  for (const n of gnodes) {
    if (hidden(n)) continue;
    const to = String(n.node_id);
    (n.args || []).forEach((a, i) => {
      const label = argLabel(a, i, n.kind);
      if (a.node != null) {
        for (const from of sources(a.node)) addEdge(from, to, label, false);
      } else if (params) {
        const key = `p${n.node_id}.${i}`;
        const text = JSON.stringify(a.value);
        nodes.push({ key, id: null, kind: 'parameter', label: truncate(text ?? 'null', 18), title: `${label || 'parameter'} = ${text}`, param: { node: n.node_id, name: label, value: a.value } });
        addEdge(key, to, label, false);
      }
    });
    for (const w of n.wait_for || []) for (const from of sources(w)) addEdge(from, to, '', true);
  }
  return { nodes, edges: [...edges.values()].map((e) => ({ from: e.from, to: e.to, label: e.labels.join(', '), wait: e.wait })) };
}

// isotonic places a layer's vertices as close as possible (least squares) to their desired x while keeping their
// order and spacing: with offsets c (cumulative minimum spacing), z = x - c must be non-decreasing, which pool-
// adjacent-violators solves in linear time. Dummy vertices (bends of long edges) may sit closer together.
function isotonic(desired, widths, dummy) {
  const n = desired.length;
  const c = new Float64Array(n);
  for (let i = 1; i < n; i++) {
    const gap = dummy[i - 1] && dummy[i] ? 3 : dummy[i - 1] || dummy[i] ? 12 : NODE_GAP;
    c[i] = c[i - 1] + (widths[i - 1] + widths[i]) / 2 + gap;
  }
  const val = [], cnt = [];
  for (let i = 0; i < n; i++) {
    let v = desired[i] - c[i], k = 1;
    while (val.length && val[val.length - 1] > v) {
      const pv = val.pop(), pk = cnt.pop();
      v = (pv * pk + v * k) / (pk + k);
      k += pk;
    }
    val.push(v);
    cnt.push(k);
  }
  const out = new Float64Array(n);
  let i = 0;
  for (let b = 0; b < val.length; b++) for (let j = 0; j < cnt[b]; j++, i++) out[i] = val[b] + c[i];
  return out;
}

// boundedLayers assigns layers with at most maxW nodes each (parameters aside), depth first so that a chain of
// nodes lands in consecutive layers: a fan-out of hundreds of branches wraps into a block of rows instead of one
// row too wide to read. Parameters go just above their consumer.
function boundedLayers(nodes, pred, succ, maxW) {
  const N = nodes.length;
  const isParam = (v) => nodes[v].kind === 'parameter';
  const layer = new Int32Array(N).fill(-1);
  const count = [];
  const indeg = pred.map((p) => p.filter((u) => !isParam(u)).length);
  const stack = [];
  for (let v = N - 1; v >= 0; v--) if (!isParam(v) && indeg[v] === 0) stack.push(v);
  while (stack.length) {
    const v = stack.pop();
    let l = 0;
    for (const u of pred[v]) l = Math.max(l, isParam(u) ? 1 : layer[u] + 1);
    while ((count[l] || 0) >= maxW) l++;
    layer[v] = l;
    count[l] = (count[l] || 0) + 1;
    for (let i = succ[v].length - 1; i >= 0; i--) if (--indeg[succ[v][i]] === 0) stack.push(succ[v][i]);
  }
  for (let v = 0; v < N; v++) {
    if (isParam(v) && succ[v].length) layer[v] = Math.max(0, Math.min(...succ[v].map((w) => layer[w])) - 1);
    if (layer[v] < 0) layer[v] = 0; // left in a cycle
  }
  return layer;
}

// layout assigns x, y (centres) to the model's nodes and a polyline to every edge.
export function layout(model) {
  const N = model.nodes.length;
  if (N === 0) return { nodes: [], edges: [], width: 0, height: 0 };
  const index = new Map(model.nodes.map((n, i) => [n.key, i]));
  const succ = Array.from({ length: N }, () => []);
  const pred = Array.from({ length: N }, () => []);
  const edges = model.edges.filter((e) => index.has(e.from) && index.has(e.to) && e.from !== e.to);
  for (const e of edges) {
    e.a = index.get(e.from);
    e.b = index.get(e.to);
    succ[e.a].push(e.b);
    pred[e.b].push(e.a);
  }
  // Kahn's order; the API guarantees a DAG, but stray cycles must not hang the page: what is left goes last.
  const indeg = pred.map((p) => p.length);
  const order = [];
  for (let i = 0; i < N; i++) if (indeg[i] === 0) order.push(i);
  for (let k = 0; k < order.length; k++) for (const w of succ[order[k]]) if (--indeg[w] === 0) order.push(w);
  if (order.length < N) for (let i = 0; i < N; i++) if (indeg[i] > 0) order.push(i);
  // longest-path layers, then sources moved down next to their first consumer (parameters sit above their node)
  const layer = new Int32Array(N);
  for (const v of order) for (const w of succ[v]) layer[w] = Math.max(layer[w], layer[v] + 1);
  for (const v of order) {
    if (pred[v].length === 0 && succ[v].length > 0) {
      let m = Infinity;
      for (const w of succ[v]) m = Math.min(m, layer[w]);
      layer[v] = Math.max(layer[v], m - 1);
    }
  }
  // too wide a layer for the window's shape: wrap it (a graph about as wide as it is tall fits a window best)
  const maxW = Math.max(12, Math.round(Math.sqrt(1.35 * N)));
  const width = new Int32Array(N + 1);
  for (let v = 0; v < N; v++) if (model.nodes[v].kind !== 'parameter') width[layer[v]]++;
  if (Math.max(...width) > maxW) layer.set(boundedLayers(model.nodes, pred, succ, maxW));
  // vertices: the nodes, then one dummy per layer crossed by a long edge
  const vlayer = Array.from(layer), vwidth = model.nodes.map((n) => n.w);
  const vpred = pred.map(() => []), vsucc = succ.map(() => []);
  for (const e of edges) {
    e.chain = [e.a];
    let prev = e.a;
    // Edges of a wide fan-in or fan-out are drawn without bends: hundreds of bend points would crowd every layer
    // they cross and pull the nodes there out of place.
    const bends = pred[e.b].length <= FAN && succ[e.a].length <= FAN;
    for (let l = layer[e.a] + 1; bends && l < layer[e.b]; l++) {
      const d = vlayer.length;
      vlayer.push(l);
      vwidth.push(DUMMY_W);
      vpred.push([prev]);
      vsucc.push([]);
      vsucc[prev].push(d);
      e.chain.push(d);
      prev = d;
    }
    vsucc[prev].push(e.b);
    vpred[e.b].push(prev);
    e.chain.push(e.b);
  }
  const V = vlayer.length;
  let L = 0;
  for (let v = 0; v < V; v++) L = Math.max(L, vlayer[v] + 1);
  const layers = Array.from({ length: L }, () => []);
  // first placement in topological order, so related nodes start out near each other
  const placed = new Uint8Array(V);
  const visit = (v) => {
    if (placed[v]) return;
    placed[v] = 1;
    layers[vlayer[v]].push(v);
  };
  for (const v of order) {
    visit(v);
    for (const e of succ[v]) visit(e);
  }
  for (let v = N; v < V; v++) visit(v);
  const pos = new Float64Array(V);
  const renumber = (ly) => ly.forEach((v, i) => { pos[v] = i; });
  layers.forEach(renumber);
  // barycenter sweeps, down then up; a vertex without neighbours on that side keeps its place
  const bary = new Float64Array(V);
  const sortLayer = (ly, nb) => {
    for (const v of ly) {
      const ns = nb[v];
      if (ns.length === 0) { bary[v] = pos[v]; continue; }
      let sum = 0;
      for (const u of ns) sum += pos[u];
      bary[v] = sum / ns.length;
    }
    ly.sort((a, b) => bary[a] - bary[b] || pos[a] - pos[b]);
    renumber(ly);
  };
  for (let it = 0; it < 8; it++) {
    if (it % 2 === 0) for (let l = 1; l < L; l++) sortLayer(layers[l], vpred);
    else for (let l = L - 2; l >= 0; l--) sortLayer(layers[l], vsucc);
  }
  // coordinates: packed, then each layer pulled towards the mean x of its neighbours, alternately above and below
  const x = new Float64Array(V);
  for (const ly of layers) {
    const xs = isotonic(new Float64Array(ly.length), ly.map((v) => vwidth[v]), ly.map((v) => v >= N));
    const mid = (xs[0] + xs[xs.length - 1]) / 2;
    ly.forEach((v, i) => { x[v] = xs[i] - mid; });
  }
  const pull = (ly, nbs) => {
    if (!ly.length) return;
    const desired = new Float64Array(ly.length), w = new Float64Array(ly.length), dummy = ly.map((v) => v >= N);
    ly.forEach((v, i) => {
      w[i] = vwidth[v];
      let sum = 0, n = 0;
      for (const nb of nbs) for (const u of nb[v]) { sum += x[u]; n++; }
      desired[i] = n ? sum / n : x[v];
    });
    const xs = isotonic(desired, w, dummy);
    ly.forEach((v, i) => { x[v] = xs[i]; });
  };
  for (let it = 0; it < 6; it++) {
    if (it % 2 === 0) for (let l = 1; l < L; l++) pull(layers[l], [vpred]);
    else for (let l = L - 2; l >= 0; l--) pull(layers[l], [vsucc]);
  }
  for (let l = 0; l < L; l++) pull(layers[l], [vpred, vsucc]);
  let minX = Infinity, maxX = -Infinity;
  for (let v = 0; v < V; v++) {
    minX = Math.min(minX, x[v] - vwidth[v] / 2);
    maxX = Math.max(maxX, x[v] + vwidth[v] / 2);
  }
  const margin = 30;
  const yOf = (l) => margin + l * (NODE_H + LAYER_GAP) + NODE_H / 2;
  model.nodes.forEach((n, i) => {
    n.x = x[i] - minX + margin;
    n.y = yOf(layer[i]);
  });
  for (const e of edges) {
    const a = model.nodes[e.a], b = model.nodes[e.b];
    e.points = [[a.x, a.y + a.h / 2]];
    for (let k = 1; k < e.chain.length - 1; k++) e.points.push([x[e.chain[k]] - minX + margin, yOf(vlayer[e.chain[k]])]);
    e.points.push([b.x, b.y - b.h / 2]);
  }
  return { nodes: model.nodes, edges, width: maxX - minX + 2 * margin, height: yOf(Math.max(L - 1, 0)) + NODE_H / 2 + margin };
}

function pathOf(points) {
  let d = `M${points[0][0].toFixed(1)},${points[0][1].toFixed(1)}`;
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1], [x1, y1] = points[i];
    const my = (y0 + y1) / 2;
    d += `C${x0.toFixed(1)},${my.toFixed(1)} ${x1.toFixed(1)},${my.toFixed(1)} ${x1.toFixed(1)},${y1.toFixed(1)}`;
  }
  return d;
}

// GraphView draws a laid-out graph into host and keeps node colours in step with statuses.
export class GraphView {
  constructor(host, { onSelect }) {
    this.host = host;
    this.onSelect = onSelect;
    this.k = 1;
    this.tx = 0;
    this.ty = 0;
    this.els = new Map(); // key -> <g>
    this.statuses = new Map(); // graph node id -> status
    this.selected = null;
    this.svg = s('svg', { class: 'graph', role: 'img', 'aria-label': 'transport graph' });
    this.viewport = s('g', { class: 'viewport' });
    this.svg.append(
      s('defs', null, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse' },
        s('path', { d: 'M0,0L10,5L0,10z', class: 'arrowhead' }))),
      this.viewport);
    // The minimap shows the whole graph, coloured by status, and where the view is; a click or drag on it moves
    // the view there. It appears once the graph no longer fits in the view.
    this.mini = document.createElement('canvas');
    this.mini.className = 'minimap';
    this.mini.width = 220;
    this.mini.height = 140;
    this.mini.hidden = true;
    host.append(this.svg, this.mini);
    this.bindPanZoom();
    this.bindMinimap();
    // Until the user pans or zooms, the graph stays fitted to the pane as the page around it settles or resizes.
    this.moved = false;
    new ResizeObserver(() => { if (!this.moved) this.fit(); }).observe(host);
  }

  // render lays out and draws the model; returns the milliseconds spent laying out and drawing.
  render(model) {
    const t0 = performance.now();
    for (const n of model.nodes) {
      n.w = boxWidth(n.label, n.kind);
      n.h = n.kind === 'parameter' ? PARAM_H : NODE_H;
    }
    const lay = layout(model);
    const t1 = performance.now();
    this.layout = lay;
    const edgesG = s('g', { class: 'edges' }), labelsG = s('g', { class: 'edge-labels' }), nodesG = s('g', { class: 'nodes' });
    // A label many edges into one node share (a fan-in through a hidden collection) is written once, above it.
    const shared = new Map(); // "to label" -> edges
    for (const e of lay.edges) if (e.label) shared.set(e.to + ' ' + e.label, (shared.get(e.to + ' ' + e.label) || 0) + 1);
    const above = new Map(); // node key -> labels written above it
    for (const e of lay.edges) {
      edgesG.append(s('path', { d: pathOf(e.points), class: e.wait ? 'edge wait' : 'edge', 'marker-end': 'url(#arrow)' }));
      if (!e.label) continue;
      const text = truncate(e.label, 24);
      if (shared.get(e.to + ' ' + e.label) > 1) {
        const done = above.get(e.to) || [];
        if (done.includes(e.label)) continue;
        done.push(e.label);
        above.set(e.to, done);
        const b = lay.nodes[e.b];
        labelsG.append(s('text', { x: (b.x + b.w / 2 + 4).toFixed(1), y: (b.y - b.h / 2 - 6 - 12 * (done.length - 1)).toFixed(1), class: 'edge-label' }, text));
      } else {
        const [px, py] = e.points[e.points.length - 2], [qx, qy] = e.points[e.points.length - 1];
        labelsG.append(s('text', { x: ((px + qx) / 2 + 4).toFixed(1), y: ((py + qy) / 2 + 8).toFixed(1), class: 'edge-label' }, text));
      }
    }
    this.els.clear();
    for (const n of lay.nodes) {
      const g = s('g', { class: this.nodeClass(n), transform: `translate(${(n.x - n.w / 2).toFixed(1)},${(n.y - n.h / 2).toFixed(1)})`, 'data-key': n.key, 'data-node-id': n.id ?? '', tabindex: '0' },
        s('title', null, n.title),
        s('rect', { width: n.w.toFixed(1), height: n.h, rx: n.kind === 'parameter' ? 11 : 6 }),
        s('text', { x: (n.w / 2).toFixed(1), y: (n.h / 2 + 4).toFixed(1) }, truncate(n.label, Math.floor((n.w - 14) / CHAR_W))));
      g.model = n;
      this.els.set(n.key, g);
      nodesG.append(g);
    }
    this.viewport.replaceChildren(edgesG, labelsG, nodesG);
    if (this.selected) this.els.get(this.selected)?.classList.add('selected');
    return { layout: t1 - t0, draw: performance.now() - t1 };
  }

  nodeClass(n) {
    const st = n.id != null ? this.statuses.get(n.id) || 'NEW_OBJECT' : 'param';
    return `node kind-${n.kind} st-${st}` + (this.selected === n.key ? ' selected' : '');
  }

  setStatus(id, status) {
    this.statuses.set(id, status);
    const g = this.els.get(String(id));
    if (g) g.setAttribute('class', this.nodeClass(g.model));
    this.drawMinimap();
  }

  // drawMinimap redraws the minimap at the next frame (once, however many changes come before it).
  drawMinimap() {
    if (this.miniPending || !this.layout || !this.layout.width) return;
    this.miniPending = true;
    requestAnimationFrame(() => {
      this.miniPending = false;
      const W = this.svg.clientWidth, H = this.svg.clientHeight, { width, height } = this.layout;
      const x0 = -this.tx / this.k, y0 = -this.ty / this.k, x1 = (W - this.tx) / this.k, y1 = (H - this.ty) / this.k;
      this.mini.hidden = x0 <= 1 && y0 <= 1 && x1 >= width - 1 && y1 >= height - 1;
      if (this.mini.hidden) return;
      const cw = this.mini.width, ch = this.mini.height, m = Math.min(cw / width, ch / height);
      const ox = (cw - width * m) / 2, oy = (ch - height * m) / 2;
      this.miniScale = { m, ox, oy };
      const ctx = this.mini.getContext('2d');
      const css = getComputedStyle(this.svg);
      const colour = {};
      for (const [st, v] of [['NEW_OBJECT', '--new'], ['RUNNING', '--running'], ['COMPLETED', '--completed'], ['FAILED', '--failed'], ['CANCELLED', '--cancelled']]) colour[st] = css.getPropertyValue(v).trim();
      ctx.clearRect(0, 0, cw, ch);
      for (const g of this.els.values()) {
        const n = g.model;
        ctx.fillStyle = n.id == null ? '#c5cad6' : colour[this.statuses.get(n.id) || 'NEW_OBJECT'];
        ctx.fillRect(ox + (n.x - n.w / 2) * m, oy + (n.y - n.h / 2) * m, Math.max(1, n.w * m), Math.max(1, n.h * m));
      }
      ctx.strokeStyle = '#1d2330';
      ctx.lineWidth = 1.5;
      ctx.strokeRect(ox + x0 * m, oy + y0 * m, (x1 - x0) * m, (y1 - y0) * m);
    });
  }

  bindMinimap() {
    const moveTo = (e) => {
      if (!this.miniScale) return;
      const r = this.mini.getBoundingClientRect(), { m, ox, oy } = this.miniScale;
      const cx = (e.clientX - r.left - ox) / m, cy = (e.clientY - r.top - oy) / m;
      this.moved = true;
      this.tx = this.svg.clientWidth / 2 - cx * this.k;
      this.ty = this.svg.clientHeight / 2 - cy * this.k;
      this.apply();
    };
    this.mini.addEventListener('pointerdown', (e) => {
      this.mini.setPointerCapture(e.pointerId);
      moveTo(e);
    });
    this.mini.addEventListener('pointermove', (e) => { if (e.buttons & 1) moveTo(e); });
  }

  select(key) {
    if (this.selected) this.els.get(this.selected)?.classList.remove('selected');
    this.selected = key;
    if (key) this.els.get(key)?.classList.add('selected');
  }

  apply() {
    this.viewport.setAttribute('transform', `translate(${this.tx.toFixed(1)},${this.ty.toFixed(1)}) scale(${this.k.toFixed(4)})`);
    this.svg.classList.toggle('far', this.k < 0.55);
    this.svg.classList.toggle('very-far', this.k < 0.3);
    this.drawMinimap();
  }

  fit() {
    this.moved = false;
    if (!this.layout || !this.layout.width) return;
    const W = this.svg.clientWidth || 800, H = this.svg.clientHeight || 600;
    const { width, height } = this.layout;
    this.k = Math.min(W / width, H / height, 1.25);
    this.tx = (W - width * this.k) / 2;
    this.ty = Math.max(0, (H - height * this.k) / 2);
    this.apply();
  }

  zoomAt(px, py, f) {
    this.moved = true;
    const k = Math.min(4, Math.max(0.01, this.k * f));
    this.tx = px - (px - this.tx) * (k / this.k);
    this.ty = py - (py - this.ty) * (k / this.k);
    this.k = k;
    this.apply();
  }

  zoomBy(f) { this.zoomAt((this.svg.clientWidth || 800) / 2, (this.svg.clientHeight || 600) / 2, f); }

  // centerOn zooms to a readable scale around a node.
  centerOn(key) {
    const g = this.els.get(key);
    if (!g) return false;
    const n = g.model;
    this.moved = true;
    this.k = Math.max(this.k, 1);
    this.tx = (this.svg.clientWidth || 800) / 2 - n.x * this.k;
    this.ty = (this.svg.clientHeight || 600) / 2 - n.y * this.k;
    this.apply();
    return true;
  }

  // find returns the key of the first node whose label or id matches text.
  find(text) {
    const t = text.trim().toLowerCase();
    if (!t) return null;
    for (const [key, g] of this.els) {
      const n = g.model;
      if (String(n.id) === t || n.label.toLowerCase().includes(t)) return key;
    }
    return null;
  }

  bindPanZoom() {
    const svg = this.svg;
    svg.addEventListener('wheel', (e) => {
      e.preventDefault();
      const r = svg.getBoundingClientRect();
      this.zoomAt(e.clientX - r.left, e.clientY - r.top, Math.exp(-e.deltaY * 0.0015));
    }, { passive: false });
    // A press that moves more than a few pixels pans; otherwise it is a click (on a node: select it). The
    // pointer is captured only once panning starts, so that clicks still reach the node under the pointer.
    let start = null, dragged = false;
    svg.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      start = { x: e.clientX, y: e.clientY, tx: this.tx, ty: this.ty, id: e.pointerId };
      dragged = false;
    });
    svg.addEventListener('pointermove', (e) => {
      if (!start || e.pointerId !== start.id) return;
      const dx = e.clientX - start.x, dy = e.clientY - start.y;
      if (!dragged && Math.hypot(dx, dy) < 4) return;
      if (!dragged) {
        dragged = true;
        svg.setPointerCapture(e.pointerId);
        svg.classList.add('panning');
      }
      this.moved = true;
      this.tx = start.tx + dx;
      this.ty = start.ty + dy;
      this.apply();
    });
    const end = () => {
      start = null;
      svg.classList.remove('panning');
    };
    svg.addEventListener('pointerup', end);
    svg.addEventListener('pointercancel', end);
    svg.addEventListener('click', (e) => {
      if (dragged) {
        dragged = false;
        return;
      }
      const g = e.target.closest && e.target.closest('g.node');
      if (g) this.onSelect(g.model);
    });
    svg.addEventListener('keydown', (e) => {
      const g = e.target.closest && e.target.closest('g.node');
      if (g && (e.key === 'Enter' || e.key === ' ')) {
        e.preventDefault();
        this.onSelect(g.model);
      }
    });
  }
}
