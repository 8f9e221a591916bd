// The web view of chainkv (issue #17): plain JavaScript, no build step, no dependency.
// It listens to the console's event stream (/events, server-sent events), draws what the
// processes report, and sends console lines to /api/command — the same commands as typed at
// the console. Every text from the stream is put on the page with textContent, never as HTML.
'use strict';

(() => {
  const SVG = 'http://www.w3.org/2000/svg';
  /** Below this delay messages are summarised per link (counts per second), not drawn one by one. */
  const MIN_DRAWN_DELAY_MS = 100;
  /** Messages are drawn this far behind real time: each reaches the page up to ~0.2 s after it was sent. */
  const ANIMATION_LAG_MS = 300;
  /** Most message dots on screen at once (the oldest go first). */
  const MAX_DOTS = 400;
  /** Timeline entries kept on the page. */
  const MAX_TIMELINE = 200;
  /** A node's or client's card is rebuilt at most this often (under load its chain changes every 100 ms). */
  const CARD_MIN_MS = 400;
  /** How long a dropped message's mark stays. */
  const DROP_MARK_MS = 1500;
  const KIND_COLOURS = {
    prepare: '#8e44ad', promise: '#b07cc6', accept: '#1f77b4', accepted: '#5fa8e0', decide: '#2f9e5b',
    repair: '#e67e22', request: '#555', reply: '#17becf', nack: '#d62728',
  };
  const KIND_OF = {
    'repair-request': 'repair', leader: 'request', forward: 'request', 'no-leader': 'reply', redirect: 'reply', refused: 'reply',
  };
  const kindColour = (k) => KIND_COLOURS[KIND_OF[k] || k] || '#999';

  const token = new URLSearchParams(location.search).get('token');
  const withToken = (url) => (token ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : url);

  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, text) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const svgEl = (tag, attrs, text) => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  };

  // ------------------------------------------------------------------ state
  const S = {
    delayMs: 0, nodes: {}, clients: {}, timeline: [],
    clockOffset: 0, // server time - page time
    dots: [], marks: [], dirty: new Set(), cardAt: new Map(), timelineDirty: true, timelineReset: true, timelineNew: [],
    rates: new Map(), // "Pa Pb" -> [{t, n, kind}]
    dropsPerLink: new Map(), // "Pa Pb" -> count since the link was cut
  };
  const nodeNames = () => Object.keys(S.nodes);
  const clientNames = () => Object.keys(S.clients);
  const pos = {};

  function layout() {
    const nodes = nodeNames();
    const cx = 450, cy = 235, r = 175;
    nodes.forEach((n, i) => {
      const a = -Math.PI / 2 + (2 * Math.PI * i) / nodes.length;
      pos[n] = { x: cx + r * Math.cos(a), y: cy + r * Math.sin(a) };
    });
    const clients = clientNames();
    clients.forEach((c, i) => { pos[c] = { x: 70, y: 235 + (i - (clients.length - 1) / 2) * 120 }; });
  }

  // ------------------------------------------------------------------ the diagram
  const pairKey = (a, b) => (a < b ? `${a} ${b}` : `${b} ${a}`);
  const linkCut = (a, b) => {
    const sa = S.nodes[a] && S.nodes[a].status, sb = S.nodes[b] && S.nodes[b].status;
    return !!((sa && sa.failedLinks.includes(b)) || (sb && sb.failedLinks.includes(a)));
  };

  function buildDiagram() {
    layout();
    const links = $('links'), procs = $('procs');
    links.textContent = '';
    procs.textContent = '';
    const nodes = nodeNames();
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        const a = nodes[i], b = nodes[j], pa = pos[a], pb = pos[b];
        const g = svgEl('g', { id: `link-${a}-${b}`, class: 'linkg', 'data-a': a, 'data-b': b });
        const hit = svgEl('line', { class: 'hit', x1: pa.x, y1: pa.y, x2: pb.x, y2: pb.y });
        const line = svgEl('line', { class: 'link', x1: pa.x, y1: pa.y, x2: pb.x, y2: pb.y });
        const title = svgEl('title', {}, `${a} — ${b}: click to cut or restore`);
        hit.appendChild(title);
        hit.addEventListener('click', () => toggleLink(a, b));
        const mx = (pa.x + pb.x) / 2, my = (pa.y + pb.y) / 2;
        const rate = svgEl('text', { class: 'rate', x: mx, y: my - 4, 'text-anchor': 'middle' });
        const drops = svgEl('text', { class: 'dropcount', x: mx, y: my + 12, 'text-anchor': 'middle', id: `drops-${a}-${b}` });
        g.append(line, hit, rate, drops);
        links.appendChild(g);
      }
    }
    for (const n of nodes) {
      const p = pos[n];
      const g = svgEl('g', { class: 'node', id: `node-${n}`, transform: `translate(${p.x},${p.y})` });
      g.append(
        svgEl('circle', { r: 34 }),
        svgEl('text', { class: 'name', 'text-anchor': 'middle', y: 2 }, n),
        svgEl('text', { class: 'info role', 'text-anchor': 'middle', y: 16, fill: '#fff' }),
        svgEl('text', { class: 'info l1', 'text-anchor': 'middle', y: 50 }),
        svgEl('text', { class: 'info l2', 'text-anchor': 'middle', y: 63 }),
      );
      procs.appendChild(g);
    }
    for (const c of clientNames()) {
      const p = pos[c];
      const g = svgEl('g', { class: 'client', id: `cl-${c}`, transform: `translate(${p.x},${p.y})` });
      g.append(
        svgEl('rect', { x: -44, y: -24, width: 88, height: 48, rx: 6 }),
        svgEl('text', { class: 'name', 'text-anchor': 'middle', y: -6 }, c),
        svgEl('text', { class: 'info l1', 'text-anchor': 'middle', y: 9 }),
        svgEl('text', { class: 'info l2', 'text-anchor': 'middle', y: 20 }),
      );
      procs.appendChild(g);
    }
    const legend = $('legend');
    legend.textContent = '';
    for (const k of Object.keys(KIND_COLOURS)) {
      const s = el('span', {}, k);
      s.style.setProperty('--c', KIND_COLOURS[k]);
      legend.appendChild(s);
    }
    const drop = el('span', {}, '✕ dropped at a cut link');
    drop.style.setProperty('--c', 'var(--cut)');
    legend.appendChild(drop);
  }

  const ROLE_FILL = { leader: 'var(--leader)', candidate: 'var(--candidate)', follower: 'var(--follower)', down: 'var(--down)' };

  function drawNode(n) {
    const v = S.nodes[n], g = $(`node-${n}`);
    if (!g) return;
    const up = v.up === 'up';
    const s = v.status;
    const role = !up ? 'down' : s ? s.role : 'starting';
    g.setAttribute('data-role', role);
    g.setAttribute('data-up', up ? 'up' : v.up);
    g.setAttribute('data-leader', s && s.leader ? s.leader : '');
    g.querySelector('circle').setAttribute('fill', ROLE_FILL[role] || '#ccc');
    g.querySelector('.role').textContent = !up ? v.up : role;
    g.querySelector('.l1').textContent = s && up ? `ballot ${s.ballot || '-'} · promised ${s.promised || '-'}` : '';
    g.querySelector('.l2').textContent = s && up ? `decided ${s.depth} +${s.tentative} · queue ${s.queue}` : '';
  }

  function drawClient(c) {
    const v = S.clients[c], g = $(`cl-${c}`);
    if (!g) return;
    g.classList.toggle('down', v.up !== 'up');
    g.setAttribute('data-up', v.up);
    const f = v.inflight;
    g.querySelector('.l1').textContent = v.up !== 'up' ? v.up : f ? `${f.op} ${f.key}` : 'idle';
    g.querySelector('.l2').textContent = f ? `→ ${f.target} (try ${f.attempts})` : '';
  }

  function drawLinks() {
    const now = Date.now();
    for (const g of document.querySelectorAll('#links .linkg')) {
      const a = g.getAttribute('data-a'), b = g.getAttribute('data-b');
      const cut = linkCut(a, b);
      g.classList.toggle('cut', cut);
      g.querySelector('.link').classList.toggle('cut', cut);
      const key = pairKey(a, b);
      if (!cut) S.dropsPerLink.delete(key);
      const d = S.dropsPerLink.get(key) || 0;
      g.querySelector('.dropcount').textContent = cut ? `✂ cut${d ? ` · ${d} dropped` : ''}` : '';
      // Messages per second over the last second (both directions), and the busiest kind.
      const recent = (S.rates.get(key) || []).filter((r) => now - r.t < 1000);
      S.rates.set(key, recent);
      const total = recent.reduce((s, r) => s + r.n, 0);
      const rate = g.querySelector('.rate');
      rate.textContent = total ? `${total}/s` : '';
      if (total) {
        const byKind = {};
        for (const r of recent) byKind[r.kind] = (byKind[r.kind] || 0) + r.n;
        const top = Object.entries(byKind).sort((x, y) => y[1] - x[1])[0][0];
        g.querySelector('.link').setAttribute('stroke-width', String(Math.min(7, 2 + Math.log2(1 + total))));
        if (S.delayMs < MIN_DRAWN_DELAY_MS && !cut) g.querySelector('.link').style.stroke = kindColour(top);
      } else {
        g.querySelector('.link').setAttribute('stroke-width', '2');
        g.querySelector('.link').style.stroke = '';
      }
    }
  }

  // Messages in flight: a dot from sender to receiver over the configured delay.
  function addDot(from, to, kind, t) {
    if (!pos[from] || !pos[to] || S.delayMs < MIN_DRAWN_DELAY_MS) return;
    const c = svgEl('circle', { r: 5, fill: kindColour(kind), class: `msg ${kind}` });
    c.appendChild(svgEl('title', {}, `${kind}: ${from} → ${to}`));
    $('dots').appendChild(c);
    S.dots.push({ from, to, t, el: c });
    while (S.dots.length > MAX_DOTS) S.dots.shift().el.remove();
  }

  function addDropMark(at, peer, kind, inbound, t) {
    const a = pos[at], b = pos[peer];
    if (S.nodes[at] && S.nodes[peer]) {
      const key = pairKey(at, peer);
      S.dropsPerLink.set(key, (S.dropsPerLink.get(key) || 0) + 1);
    }
    if (!a || !b) return;
    // Marked on the cut link next to the process that dropped it.
    const f = 0.22;
    const x = a.x + (b.x - a.x) * f, y = a.y + (b.y - a.y) * f;
    const m = svgEl('text', { class: 'drop', x, y: y + 6, 'text-anchor': 'middle' }, '✕');
    m.appendChild(svgEl('title', {}, `${kind} ${inbound ? `from ${peer} dropped by ${at}` : `to ${peer} dropped by ${at}`} (cut link)`));
    $('marks').appendChild(m);
    S.marks.push({ el: m, until: Date.now() + DROP_MARK_MS });
  }

  function animate() {
    const shown = Date.now() + S.clockOffset - ANIMATION_LAG_MS;
    const keep = [];
    for (const d of S.dots) {
      const p = (shown - d.t) / Math.max(1, S.delayMs);
      if (p >= 1) { d.el.remove(); continue; }
      const a = pos[d.from], b = pos[d.to];
      const q = Math.max(0, p);
      d.el.setAttribute('cx', a.x + (b.x - a.x) * q);
      d.el.setAttribute('cy', a.y + (b.y - a.y) * q);
      d.el.setAttribute('opacity', p < 0 ? '0' : '1');
      keep.push(d);
    }
    S.dots = keep;
    const now = Date.now();
    S.marks = S.marks.filter((m) => (m.until > now ? true : (m.el.remove(), false)));
    requestAnimationFrame(animate);
  }

  // ------------------------------------------------------------------ cards
  function card(id, cls) {
    let c = $(id);
    if (!c) {
      c = el('div', { id, class: `card ${cls}` });
      $(cls === 'nodecard' ? 'nodes' : 'clients').appendChild(c);
    }
    return c;
  }

  function dl(rows) {
    const d = el('dl');
    for (const [k, v] of rows) d.append(el('dt', {}, k), el('dd', {}, v));
    return d;
  }

  function renderNodeCard(n) {
    const v = S.nodes[n], s = v.status, up = v.up === 'up';
    const c = card(`card-${n}`, 'nodecard');
    c.textContent = '';
    c.classList.toggle('down', !up);
    const role = !up ? 'down' : s ? s.role : 'starting';
    const h = el('h3', {}, n);
    h.appendChild(el('span', { class: `role ${role}` }, up ? role : v.up));
    c.appendChild(h);
    c.appendChild(dl([
      ['leader', s && up ? s.leader || 'unknown' : '-'],
      ['ballot', s && up ? s.ballot || '-' : '-'],
      ['promised', s && up ? s.promised || '-' : '-'],
      ['depth', s && up ? `${s.depth} decided, ${s.tentative} tentative` : '-'],
      ['queue', s && up ? String(s.queue) : '-'],
      ['failed links', s && up ? s.failedLinks.join(', ') || 'none' : '-'],
    ]));
    const btns = el('div');
    const fail = el('button', { type: 'button', class: 'fail' }, 'failProcess');
    fail.disabled = !up;
    fail.addEventListener('click', () => command(`${n} failProcess`));
    const restart = el('button', { type: 'button', class: 'restart' }, 'restart');
    restart.disabled = v.up !== 'down';
    restart.addEventListener('click', () => command(`restart ${n}`));
    const print = el('button', { type: 'button' }, 'printBlockchain');
    print.disabled = !up;
    print.addEventListener('click', () => command(`${n} printBlockchain`));
    btns.append(fail, restart, print);
    c.appendChild(btns);
    const ch = el('div', { class: 'chain', id: `chain-${n}` });
    const chain = v.chain;
    if (chain) {
      if (chain.end > chain.tail.length) ch.appendChild(el('span', { class: 'more' }, `… ${chain.end - chain.tail.length} earlier`));
      for (const b of chain.tail) {
        const box = el('span', { class: `block ${b.status}`, 'data-depth': String(b.depth), 'data-key': b.key });
        box.title = `block ${b.depth} (${b.status})\n${b.op} ${b.key}${b.value !== null ? ` ${b.value}` : ''}\nrequest ${b.client}#${b.req}\nnonce ${b.nonce}\nhash pointer ${b.hashPointer}\nhash ${b.hash}`;
        box.append(el('span', { class: 'd' }, String(b.depth)), document.createTextNode(`${b.op} ${b.key}`));
        ch.appendChild(box);
      }
    }
    if (!chain || chain.end === 0) ch.appendChild(el('span', { class: 'empty' }, 'empty chain'));
    c.appendChild(el('h2', {}, 'chain (latest blocks)'));
    c.appendChild(ch);
    c.appendChild(el('h2', {}, `dictionary${v.kv ? ` (${v.kv.size} key${v.kv.size === 1 ? '' : 's'})` : ''}`));
    const t = el('table', { class: 'kv', id: `kv-${n}` });
    for (const [k, val] of v.kv ? v.kv.entries : []) {
      const tr = el('tr');
      tr.append(el('td', {}, k), el('td', {}, val));
      t.appendChild(tr);
    }
    c.appendChild(t);
  }

  function renderClientCard(name) {
    const v = S.clients[name];
    const c = card(`client-${name}`, 'clientcard');
    c.textContent = '';
    c.classList.toggle('down', v.up !== 'up');
    const h = el('h3', {}, name);
    h.appendChild(el('span', { class: 'role' }, v.up));
    c.appendChild(h);
    const f = v.inflight;
    const since = f ? Math.max(0, Math.round((Date.now() + S.clockOffset - f.since) / 1000)) : 0;
    c.appendChild(dl([
      ['in flight', f ? `#${f.req} ${f.op} ${f.key} → ${f.target}, attempt ${f.attempts}, ${since} s` : 'nothing'],
      ['typed, unanswered', v.typed.length ? v.typed.map((x) => x[1]).join(' · ') : 'none'],
      ['last answer', v.last || '-'],
    ]));
    if (v.up === 'down') {
      const restart = el('button', { type: 'button' }, 'restart');
      restart.addEventListener('click', () => command(`restart ${name}`));
      c.appendChild(restart);
    }
  }

  function timelineItem(e) {
    const li = el('li', { class: e.kind });
    const d = new Date(e.t);
    li.append(
      el('span', { class: 't' }, `${d.toTimeString().slice(0, 8)}.${String(d.getMilliseconds()).padStart(3, '0').slice(0, 1)}`),
      el('span', { class: 'who' }, e.who),
      document.createTextNode(e.text),
    );
    return li;
  }

  /** The newest entries on top: new ones are added, the oldest removed (rebuilt only on a snapshot). */
  function renderTimeline() {
    const ol = $('timeline');
    if (S.timelineReset) {
      ol.textContent = '';
      S.timelineReset = false;
      S.timelineNew = S.timeline.slice();
    }
    const frag = document.createDocumentFragment();
    for (let i = S.timelineNew.length - 1; i >= 0; i--) frag.appendChild(timelineItem(S.timelineNew[i]));
    ol.insertBefore(frag, ol.firstChild);
    S.timelineNew = [];
    while (ol.children.length > MAX_TIMELINE) ol.lastChild.remove();
  }

  function render() {
    const now = Date.now();
    for (const name of [...S.dirty]) {
      if (S.nodes[name]) drawNode(name);
      if (S.clients[name]) drawClient(name);
      if (now - (S.cardAt.get(name) || 0) < CARD_MIN_MS) continue; // stays dirty: rebuilt on a later turn
      S.cardAt.set(name, now);
      if (S.nodes[name]) renderNodeCard(name);
      if (S.clients[name]) renderClientCard(name);
      S.dirty.delete(name);
    }
    drawLinks();
    if (S.timelineDirty) { renderTimeline(); S.timelineDirty = false; }
    // A client's "in flight" seconds move on without an event.
    for (const c of clientNames()) if (S.clients[c].inflight) S.dirty.add(c);
  }

  // ------------------------------------------------------------------ the stream
  function applySnapshot(m) {
    S.delayMs = m.delayMs;
    S.nodes = m.nodes;
    S.clients = m.clients;
    S.timeline = m.timeline.slice(-MAX_TIMELINE);
    S.timelineReset = true;
    S.cardAt.clear();
    S.clockOffset = m.t - Date.now();
    for (const d of S.dots) d.el.remove();
    S.dots = [];
    $('nodes').textContent = '';
    $('clients').textContent = '';
    buildDiagram();
    $('delay').textContent = `delay ${S.delayMs} ms per message`;
    $('drawmode').textContent = S.delayMs >= MIN_DRAWN_DELAY_MS
      ? `Each message is drawn travelling for ${S.delayMs} ms (${ANIMATION_LAG_MS} ms behind real time).`
      : `At a delay of ${S.delayMs} ms messages are summarised: messages per second on each link, coloured by the busiest kind.`;
    const sel = $('op-client');
    sel.textContent = '';
    for (const c of clientNames()) sel.appendChild(el('option', {}, c));
    for (const n of [...nodeNames(), ...clientNames()]) S.dirty.add(n);
    S.timelineDirty = true;
  }

  function applyPush(m) {
    S.clockOffset = m.t - Date.now();
    for (const [n, v] of Object.entries(m.nodes || {})) if (S.nodes[n]) { S.nodes[n] = v; S.dirty.add(n); }
    for (const [n, v] of Object.entries(m.clients || {})) if (S.clients[n]) { S.clients[n] = v; S.dirty.add(n); }
    for (const [from, to, kind, t] of m.sent || []) addDot(from, to, kind, t);
    for (const [k, n] of Object.entries(m.counts || {})) {
      const [from, to, kind] = k.split(' ');
      // Only links between processes drawn here: a name from elsewhere would grow this table for ever.
      if ((!S.nodes[from] && !S.clients[from]) || (!S.nodes[to] && !S.clients[to])) continue;
      const key = pairKey(from, to);
      if (!S.rates.has(key)) S.rates.set(key, []);
      S.rates.get(key).push({ t: Date.now(), n, kind });
    }
    for (const [at, peer, kind, inbound] of m.drops || []) addDropMark(at, peer, kind, inbound);
    if (m.timeline && m.timeline.length) {
      S.timeline.push(...m.timeline);
      S.timelineNew.push(...m.timeline);
      if (S.timelineNew.length > MAX_TIMELINE) S.timelineNew.splice(0, S.timelineNew.length - MAX_TIMELINE);
      if (S.timeline.length > MAX_TIMELINE) S.timeline.splice(0, S.timeline.length - MAX_TIMELINE);
      S.timelineDirty = true;
    }
  }

  function connect() {
    const es = new EventSource(withToken('/events'));
    es.onopen = () => { $('conn').textContent = 'live'; $('conn').className = 'conn on'; };
    es.onerror = () => { $('conn').textContent = 'reconnecting…'; $('conn').className = 'conn off'; };
    es.onmessage = (e) => {
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
      if (m.type === 'snapshot') applySnapshot(m);
      else if (m.type === 'push') applyPush(m);
      else if (m.type === 'refused') {
        // Too many pages open: try again in a while (another page may have closed by then).
        $('conn').textContent = `${m.error}; trying again in 10 s`;
        es.close();
        setTimeout(connect, 10_000);
      }
    };
  }

  // ------------------------------------------------------------------ controls
  let inFlight = 0;
  async function command(line) {
    const out = $('cmd-result');
    out.className = 'result';
    out.textContent = `> ${line} …`;
    inFlight++;
    try {
      const headers = { 'content-type': 'application/json' };
      if (token) headers.authorization = `Bearer ${token}`;
      const r = await fetch(withToken('/api/command'), { method: 'POST', headers, body: JSON.stringify({ line }) });
      const text = await r.text();
      let body = null;
      try { body = JSON.parse(text); } catch { /* a plain-text error */ }
      const ok = r.ok && body && body.ok;
      out.className = ok ? 'result' : 'result error';
      out.textContent = `> ${line}: ${ok ? 'done' : (body && body.error) || text.trim() || r.status}`;
      return !!ok;
    } catch (e) {
      out.className = 'result error';
      out.textContent = `> ${line}: ${e.message}`;
      return false;
    } finally {
      inFlight--;
    }
  }

  function toggleLink(a, b) {
    const sa = S.nodes[a].status, sb = S.nodes[b].status;
    const upA = S.nodes[a].up === 'up', upB = S.nodes[b].up === 'up';
    if (linkCut(a, b)) {
      if (upA && sa && sa.failedLinks.includes(b)) command(`${a} fixLink(${a},${b})`);
      if (upB && sb && sb.failedLinks.includes(a)) command(`${b} fixLink(${b},${a})`);
    } else if (upA) command(`${a} failLink(${a},${b})`);
    else if (upB) command(`${b} failLink(${b},${a})`);
  }

  function wireControls() {
    $('op-op').addEventListener('change', () => { $('op-value').disabled = $('op-op').value === 'get'; });
    $('op-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const c = $('op-client').value, op = $('op-op').value, key = $('op-key').value.trim();
      command(op === 'put' ? `${c} put ${key} ${$('op-value').value.trim()}` : `${c} get ${key}`);
    });
    $('net-form').addEventListener('submit', (e) => { e.preventDefault(); command(`partition ${$('part-groups').value.trim()}`); });
    $('heal').addEventListener('click', () => command('heal'));
    $('line-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const line = $('line').value.trim();
      if (line) command(line);
    });
    // Scenario replay: the file's steps, one console line each, run here one at a time.
    const scn = { steps: [], next: 0, running: false };
    const stepsList = $('scn-steps');
    const markSteps = () => {
      [...stepsList.children].forEach((li, i) => li.classList.toggle('next', i === scn.next));
      $('scn-step').disabled = scn.running || scn.next >= scn.steps.length;
      $('scn-run').disabled = scn.running || scn.next >= scn.steps.length;
    };
    fetch(withToken('/api/scenarios')).then((r) => r.json()).then((b) => {
      for (const n of b.scenarios || []) $('scn-list').appendChild(el('option', {}, n));
    }).catch(() => undefined);
    $('scn-load').addEventListener('click', async () => {
      const name = $('scn-list').value;
      if (!name) return;
      const r = await fetch(withToken(`/api/scenario?name=${encodeURIComponent(name)}`));
      const b = await r.json().catch(() => null);
      stepsList.textContent = '';
      if (!r.ok || !b || !b.ok) { $('cmd-result').textContent = `cannot load ${name}: ${(b && b.error) || r.status}`; return; }
      scn.steps = b.steps;
      scn.next = 0;
      for (const s of b.steps) stepsList.appendChild(el('li', { title: `line ${s.line}` }, s.text));
      if (b.delayMs !== null && b.delayMs !== S.delayMs) {
        $('cmd-result').textContent = `note: ${name} was written for delay ${b.delayMs} ms; this cluster runs at ${S.delayMs} ms`;
      }
      markSteps();
    });
    const step = async () => {
      const i = scn.next;
      if (i >= scn.steps.length) return false;
      scn.next++;
      markSteps();
      const ok = await command(scn.steps[i].text);
      stepsList.children[i].classList.add(ok ? 'ok' : 'failed');
      if (!ok) scn.next = scn.steps.length; // a failed step ends the replay, as in --script
      markSteps();
      return ok;
    };
    $('scn-step').addEventListener('click', async () => {
      scn.running = true;
      markSteps();
      await step();
      scn.running = false;
      markSteps();
    });
    $('scn-run').addEventListener('click', async () => {
      scn.running = true;
      markSteps();
      while (await step()) { /* next */ }
      scn.running = false;
      markSteps();
    });
  }

  wireControls();
  connect();
  setInterval(render, 150);
  requestAnimationFrame(animate);
  window.chainkvView = { state: S, commandsInFlight: () => inFlight };
})();
