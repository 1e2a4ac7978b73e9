// publishgate status board: where every bot of every environment stands in its publish pipeline.
//
// Plain JavaScript, no framework, no inline script (the page runs under a strict
// Content-Security-Policy). Everything shown comes from the GraphQL API at the endpoint named by
// <html data-endpoint>. Updates arrive through a "feed": the graphql-transport-ws subscription
// publishStatusChanged when the schema has it, polling otherwise. Filters live in the URL query,
// so a view can be shared; the caller's token lives in sessionStorage only.
'use strict';

(() => {
  const ENDPOINT = document.documentElement.dataset.endpoint || '/graphql';
  const TOKEN_KEY = 'publishgate.board.token';
  // Polling intervals: the gateway re-reads a publishing bot every 2 s (cache.inProgressTTL) and a
  // finished one every 30 s, so polling faster than this only re-reads the cache.
  const POLL_MS = 5000;
  const POLL_BUSY_MS = 2000;
  // While the subscription is live, a full query still refreshes the summaries and bot lists.
  const LIVE_REFRESH_MS = 30000;
  const LIVE_RETRY_MS = 60000;
  const MAX_BACKOFF_MS = 30000;
  const STALE_AFTER_S = 60;

  const SUMMARY = 'total successful failed inProgress unknown neverPublished errors';
  const JOB = 'id status rawStatus percentageComplete lastModifiedOn initiatedOn requestedTime createdBy ' +
    'freshness { fetchedAt ageSeconds fromCache stale }';
  const BOARD_QUERY = `query Board { summary { ${SUMMARY} } environments { name host summary { ${SUMMARY} } ` +
    `bots { id name publishStatus { ${JOB} } } } }`;
  const DETAIL_QUERY = 'query BotDetail($environment: ID!, $botId: ID!) { publishStatus(environment: $environment, botId: $botId) { ' +
    `${JOB} jobType action statusSummary { resourceId resourceType name modules status rawStatus } } }`;
  const PROBE_QUERY = 'query Probe { __schema { subscriptionType { fields { name } } } }';
  const SUBSCRIPTION = 'subscription Board($refs: [BotRef!]!) { publishStatusChanged(refs: $refs) { ' +
    `bot { id environment { name } } job { ${JOB} } } }`;

  const STATES = {
    successful: { label: 'Successful', icon: 'check' },
    failed: { label: 'Failed', icon: 'cross' },
    inprogress: { label: 'Publishing', icon: 'spin' },
    never: { label: 'Never published', icon: 'never' },
    error: { label: 'Error', icon: 'alert' },
    unknown: { label: 'Unknown', icon: 'question' },
  };
  // The tiles of the overall summary: the API's PublishSummary field, its label and the state
  // filter a click on it applies.
  const TILES = [
    ['total', 'Bots', '', 'grid'],
    ['successful', 'Successful', 'successful', 'check'],
    ['failed', 'Failed', 'failed', 'cross'],
    ['inProgress', 'Publishing', 'inprogress', 'spin'],
    ['neverPublished', 'Never published', 'never', 'never'],
    ['errors', 'Errors', 'error', 'alert'],
    ['unknown', 'Unknown', 'unknown', 'question'],
  ];
  const ICONS = {
    check: '<circle cx="12" cy="12" r="9"/><path d="M8 12.5l2.7 2.7L16.2 9.5"/>',
    cross: '<circle cx="12" cy="12" r="9"/><path d="M9 9l6 6M15 9l-6 6"/>',
    spin: '<path d="M20.5 12a8.5 8.5 0 1 1-2.6-6.1"/><path d="M20.5 3.5v5h-5"/>',
    never: '<circle cx="12" cy="12" r="9" stroke-dasharray="3.2 3.2"/>',
    alert: '<path d="M12 3.2l9.5 16.8H2.5z"/><path d="M12 10v4.5M12 17.2v.3"/>',
    question: '<circle cx="12" cy="12" r="9"/><path d="M9.6 9.4a2.5 2.5 0 1 1 3.4 2.4c-.6.3-1 .8-1 1.5v.6M12 16.8v.3"/>',
    clock: '<circle cx="12" cy="12" r="9"/><path d="M12 7v5l3.2 2"/>',
    grid: '<rect x="3.5" y="3.5" width="7" height="7" rx="1.5"/><rect x="13.5" y="3.5" width="7" height="7" rx="1.5"/>' +
      '<rect x="3.5" y="13.5" width="7" height="7" rx="1.5"/><rect x="13.5" y="13.5" width="7" height="7" rx="1.5"/>',
  };

  const $ = (id) => document.getElementById(id);

  // ---- small DOM helpers -------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function icon(name) {
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    svg.setAttribute('class', 'icon i-' + name);
    svg.innerHTML = ICONS[name]; // static markup from ICONS, never data
    return svg;
  }

  // ---- time --------------------------------------------------------------------------------

  function span(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + ' s';
    const m = Math.round(s / 60);
    if (m < 60) return m + ' min';
    const h = Math.round(s / 3600);
    if (h < 48) return h + ' h';
    return Math.round(s / 86400) + ' d';
  }

  function ago(iso) {
    return span((Date.now() - Date.parse(iso)) / 1000) + ' ago';
  }

  function timeEl(iso) {
    if (!iso) return el('span', { class: 'muted', text: '—' });
    const d = new Date(iso);
    return el('time', { datetime: iso, title: d.toLocaleString(), 'data-ago': iso, text: ago(iso) });
  }

  // ---- token (session storage only) ---------------------------------------------------------

  const token = {
    get() {
      try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
    },
    set(v) {
      try { if (v) sessionStorage.setItem(TOKEN_KEY, v); else sessionStorage.removeItem(TOKEN_KEY); } catch { /* storage off */ }
      showToken();
    },
  };

  function showToken() {
    const b = $('token-btn');
    const set = !!token.get();
    b.textContent = set ? 'Token set' : 'Token';
    b.title = set ? 'A token is sent with every request; click to change or forget it' : 'Paste a token for a gateway with auth on';
  }

  // ---- GraphQL over HTTP --------------------------------------------------------------------

  class AuthError extends Error {}
  class TransportError extends Error {}

  const codeOf = (e) => (e && e.extensions && e.extensions.code) || '';

  async function graphql(query, variables) {
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
    const t = token.get();
    if (t) headers.Authorization = 'Bearer ' + t;
    let res;
    try {
      res = await fetch(ENDPOINT, {
        method: 'POST', headers, cache: 'no-store', credentials: 'same-origin',
        body: JSON.stringify({ query, variables: variables || {} }),
      });
    } catch {
      throw new TransportError('the gateway cannot be reached');
    }
    let body = null;
    try { body = await res.json(); } catch { /* not JSON: judged by the status below */ }
    const errors = (body && body.errors) || [];
    const unauth = errors.find((e) => codeOf(e) === 'UNAUTHENTICATED');
    if (res.status === 401 || unauth) {
      throw new AuthError(unauth ? unauth.message : 'the gateway asks for a token');
    }
    if (!body || !body.data) {
      const why = errors.length ? errors[0].message : 'HTTP ' + res.status;
      throw new TransportError(why);
    }
    return body;
  }

  // ---- the model ----------------------------------------------------------------------------

  const model = {
    summary: null,
    envs: [], // {name, host, summary, bots: [{key, id, name, env, job, error}]}
    byKey: new Map(),
    receivedAt: 0,
    problems: [], // errors about no bot in particular
  };

  const keyOf = (env, id) => env + '/' + id;

  function stateOf(bot) {
    if (bot.error) return 'error';
    if (!bot.job) return 'never';
    return { SUCCESSFUL: 'successful', FAILED: 'failed', INPROGRESS: 'inprogress' }[bot.job.status] || 'unknown';
  }

  function stripPrefix(msg, env, id) {
    const p = env + '/' + id + ': ';
    return msg && msg.startsWith(p) ? msg.slice(p.length) : msg;
  }

  function applyBoard(body) {
    const data = body.data;
    const perBot = new Map();
    const problems = [];
    const warnings = new Map();
    for (const w of (body.extensions && body.extensions.warnings) || []) {
      if (w.environment && w.botId) warnings.set(keyOf(w.environment, w.botId), w);
    }
    for (const e of body.errors || []) {
      const ext = e.extensions || {};
      if (ext.environment && ext.botId) perBot.set(keyOf(ext.environment, ext.botId), e);
      else problems.push(e);
    }
    model.summary = data.summary;
    model.receivedAt = Date.now();
    model.problems = problems;
    model.byKey = new Map();
    model.envs = (data.environments || []).map((env) => ({
      name: env.name,
      host: env.host,
      summary: env.summary,
      bots: env.bots.map((b) => {
        const key = keyOf(env.name, b.id);
        const err = perBot.get(key);
        const warning = warnings.get(key);
        const bot = {
          key, id: b.id, name: b.name || b.id, env: env.name, job: b.publishStatus || null, at: model.receivedAt,
          error: err ? { code: codeOf(err) || 'INTERNAL', message: stripPrefix(err.message, env.name, b.id) } : null,
          warning: warning ? { code: warning.code || '', message: warning.message || '' } : null,
        };
        model.byKey.set(key, bot);
        return bot;
      }),
    }));
  }

  // SUMMARY_FIELD is the PublishSummary field that counts a bot in each state.
  const SUMMARY_FIELD = {
    successful: 'successful', failed: 'failed', inprogress: 'inProgress', never: 'neverPublished', error: 'errors', unknown: 'unknown',
  };

  // applyEvent applies one publishStatusChanged event. The summaries (the API's, from the last
  // full query) move with it: the bot leaves the count of its old state for that of its new one.
  function applyEvent(payload) {
    const now = Date.now();
    const changed = new Map(); // bot -> its state before the event
    const touch = (bot) => { if (!changed.has(bot)) changed.set(bot, stateOf(bot)); bot.at = now; };
    const failed = new Set();
    for (const e of (payload && payload.errors) || []) {
      const ext = e.extensions || {};
      const bot = model.byKey.get(keyOf(ext.environment, ext.botId));
      if (!bot) continue;
      touch(bot);
      bot.error = { code: codeOf(e) || 'INTERNAL', message: stripPrefix(e.message, bot.env, bot.id) };
      failed.add(bot);
    }
    const ev = payload && payload.data && payload.data.publishStatusChanged;
    const bot = ev && ev.bot && model.byKey.get(keyOf(ev.bot.environment.name, ev.bot.id));
    if (bot && !failed.has(bot)) {
      touch(bot);
      bot.job = ev.job || null;
      bot.error = null;
      bot.warning = null;
    }
    for (const [b, before] of changed) {
      const after = stateOf(b);
      if (after === before) continue;
      const env = model.envs.find((e) => e.name === b.env);
      for (const sum of [model.summary, env && env.summary]) {
        if (!sum) continue;
        sum[SUMMARY_FIELD[before]] = Math.max(0, sum[SUMMARY_FIELD[before]] - 1);
        sum[SUMMARY_FIELD[after]] += 1;
      }
    }
    model.receivedAt = now;
    render();
  }

  // staleness tells two kinds of stale answer apart. The gateway marks an answer stale once it is
  // past its time to live; one it is refreshing in the background is only "refreshing", while one
  // served because Kore.ai could not be asked (reported in extensions.warnings) or older than a
  // minute is "stale" and marked on the board.
  function staleness(bot) {
    const f = bot.job && bot.job.freshness;
    if (!f || !f.stale) return '';
    return bot.warning || f.ageSeconds > STALE_AFTER_S ? 'stale' : 'refreshing';
  }

  const anyPublishing = () => [...model.byKey.values()].some((b) => stateOf(b) === 'inprogress');

  // ---- filters in the URL -------------------------------------------------------------------

  const filters = { env: '', state: '', q: '' };

  function readURL() {
    const p = new URLSearchParams(location.search);
    filters.env = p.get('env') || '';
    const st = p.get('state') || '';
    filters.state = Object.hasOwn(STATES, st) || st === 'attention' || st === 'stale' ? st : '';
    filters.q = p.get('q') || '';
    setWall(p.get('wall') === '1');
    $('f-state').value = filters.state;
    $('f-q').value = filters.q;
  }

  function writeURL() {
    const p = new URLSearchParams();
    if (filters.env) p.set('env', filters.env);
    if (filters.state) p.set('state', filters.state);
    if (filters.q) p.set('q', filters.q);
    if (document.documentElement.classList.contains('wall')) p.set('wall', '1');
    if (new URLSearchParams(location.search).get('live') === '0') p.set('live', '0');
    const qs = p.toString();
    history.replaceState(null, '', location.pathname + (qs ? '?' + qs : '') + location.hash);
  }

  function matches(bot) {
    if (filters.env && bot.env !== filters.env) return false;
    const s = stateOf(bot);
    const stale = staleness(bot) === 'stale';
    if (filters.state === 'attention') {
      if (!(s === 'failed' || s === 'error' || s === 'unknown' || stale)) return false;
    } else if (filters.state === 'stale') {
      if (!staleness(bot)) return false;
    } else if (filters.state && s !== filters.state) {
      return false;
    }
    if (filters.q) {
      const q = filters.q.toLowerCase();
      if (!bot.name.toLowerCase().includes(q) && !bot.id.toLowerCase().includes(q)) return false;
    }
    return true;
  }

  const filtering = () => !!(filters.env || filters.state || filters.q);

  // ---- rendering ----------------------------------------------------------------------------

  const rows = new Map(); // bot key -> {tr, open, sig}
  const sections = new Map(); // env name -> {section, host, counts, tbody}

  function badge(state, extra) {
    const s = STATES[state];
    return el('span', { class: 'badge s-' + state }, icon(s.icon), el('span', { text: extra || s.label }));
  }

  function stateCell(bot) {
    const s = stateOf(bot);
    const cell = el('div', { class: 'state' });
    if (s === 'inprogress') {
      const pct = Math.max(0, Math.min(100, bot.job.percentageComplete | 0));
      cell.append(badge(s), el('span', { class: 'meter' },
        el('progress', { max: 100, value: pct, 'aria-label': 'Publish progress of ' + bot.name }),
        el('span', { class: 'pct', text: pct + '%' })));
    } else if (s === 'error') {
      cell.append(badge(s), el('code', { class: 'code', text: bot.error.code }),
        el('span', { class: 'why', text: bot.error.message }));
    } else if (s === 'unknown') {
      cell.append(badge(s, 'Unknown: ' + (bot.job.rawStatus || '?')));
    } else {
      cell.append(badge(s));
    }
    return cell;
  }

  function freshCell(bot) {
    const f = bot.job && bot.job.freshness;
    if (!f) return el('span', { class: 'fresh muted', text: bot.error ? 'no answer' : '' });
    const base = (bot.at || model.receivedAt) / 1000 - f.ageSeconds;
    const age = el('span', { 'data-age-from': String(base), text: span(Date.now() / 1000 - base) + ' old' });
    const kind = staleness(bot);
    if (kind === 'stale') {
      const why = bot.warning ? 'Kore.ai could not be asked (' + bot.warning.code + '): this is the last good answer' : 'This answer is old';
      return el('span', { class: 'stale', title: why }, icon('clock'), el('strong', { text: 'Stale' }), ' · ', age,
        bot.warning ? el('code', { class: 'code', text: bot.warning.code }) : null);
    }
    const title = kind === 'refreshing' ? 'Past its time to live; the gateway is refreshing it'
      : f.fromCache ? 'Read from the gateway cache' : 'Read from Kore.ai for this answer';
    return el('span', { class: 'fresh', title }, age,
      kind === 'refreshing' ? el('span', { class: 'tag', text: 'refreshing' }) : f.fromCache ? el('span', { class: 'tag', text: 'cached' }) : null);
  }

  function rowSig(bot) {
    const j = bot.job;
    return [stateOf(bot), bot.name, j && j.id, j && j.percentageComplete, j && j.lastModifiedOn, j && j.rawStatus,
      staleness(bot), j && j.freshness.fromCache, j && Math.round(j.freshness.ageSeconds),
      bot.error && bot.error.code, bot.error && bot.error.message, bot.warning && bot.warning.code].join('|');
  }

  function makeRow(bot) {
    const open = el('button', { type: 'button', class: 'botname', 'aria-haspopup': 'dialog',
      onclick: () => openDetail(bot.key) });
    const tr = el('tr', { 'data-key': bot.key, 'data-env': bot.env, 'data-bot-id': bot.id },
      el('th', { scope: 'row' }, open), el('td', { class: 'c-state' }), el('td', { class: 'c-changed' }));
    return { tr, open, sig: '' };
  }

  function fillRow(r, bot) {
    const sig = rowSig(bot);
    if (sig === r.sig) return;
    r.sig = sig;
    const s = stateOf(bot);
    r.tr.dataset.state = s;
    r.tr.classList.toggle('is-stale', staleness(bot) === 'stale');
    r.open.replaceChildren(el('span', { class: 'n', text: bot.name }));
    r.open.title = bot.id;
    r.open.setAttribute('aria-label', bot.name + ': ' + STATES[s].label + ', show details');
    const [, cState, cChanged] = r.tr.children;
    cState.replaceChildren(stateCell(bot));
    cChanged.replaceChildren(el('div', { class: 'changed' }, timeEl(bot.job && bot.job.lastModifiedOn)), freshCell(bot));
  }

  function countsLine(sum) {
    const parts = [];
    const add = (n, label, state) => {
      if (n > 0 || state === 'successful') parts.push(el('span', { class: 'count s-' + state }, icon(STATES[state].icon), `${n} ${label}`));
    };
    add(sum.successful, 'successful', 'successful');
    add(sum.failed, 'failed', 'failed');
    add(sum.inProgress, 'publishing', 'inprogress');
    add(sum.neverPublished, 'never published', 'never');
    add(sum.errors, sum.errors === 1 ? 'error' : 'errors', 'error');
    add(sum.unknown, 'unknown', 'unknown');
    return parts;
  }

  function makeSection(env) {
    const id = 'env-' + env.name.replace(/[^A-Za-z0-9_-]/g, '_');
    const title = el('h2', { id: id + '-t', text: env.name });
    const host = el('span', { class: 'host' });
    const counts = el('p', { class: 'counts' });
    const caption = el('caption', {}, el('div', { class: 'cap-head' }, title, host), counts);
    const tbody = el('tbody');
    const table = el('table', { class: 'bots' }, caption,
      el('thead', {}, el('tr', {},
        el('th', { scope: 'col', text: 'Bot' }), el('th', { scope: 'col', text: 'State' }),
        el('th', { scope: 'col', text: 'Last change' }))),
      tbody);
    const section = el('section', { class: 'env', 'data-env': env.name, 'aria-labelledby': id + '-t' }, table);
    return { section, host, counts, tbody };
  }

  function renderOverall() {
    const sum = model.summary;
    const list = $('overall');
    if (!list.childElementCount) {
      for (const [field, label, state, ic] of TILES) {
        const b = el('button', { type: 'button', class: 'tile t-' + (state || 'total'), 'data-field': field,
          onclick: () => setFilter('state', filters.state === state ? '' : state) },
        icon(ic), el('span', { class: 'n', text: '–' }), el('span', { class: 'l', text: label }));
        list.append(el('li', {}, b));
      }
    }
    for (const b of list.querySelectorAll('button')) {
      const f = b.dataset.field;
      b.querySelector('.n').textContent = sum ? String(sum[f]) : '–';
      const state = TILES.find((t) => t[0] === f)[2];
      b.setAttribute('aria-pressed', String(filters.state === state && (state !== '' || !filtering())));
      b.title = state ? 'Show only: ' + b.querySelector('.l').textContent : 'Show every bot';
      b.parentElement.hidden = f === 'unknown' && sum && sum.unknown === 0;
    }
  }

  function renderEnvOptions() {
    const sel = $('f-env');
    const names = model.envs.map((e) => e.name);
    const have = [...sel.options].slice(1).map((o) => o.value);
    if (names.join('\n') !== have.join('\n')) {
      while (sel.options.length > 1) sel.remove(1);
      for (const n of names) sel.append(el('option', { value: n, text: n }));
    }
    if (filters.env && !names.includes(filters.env)) sel.append(el('option', { value: filters.env, text: filters.env + ' (unknown)' }));
    if (sel.value !== filters.env) sel.value = filters.env;
  }

  // place puts child at index among parent's children, moving it only when it is elsewhere: a
  // move takes an element out of the document, which would take the keyboard focus from it.
  function place(parent, child, index) {
    const at = parent.children[index] || null;
    if (at !== child) parent.insertBefore(child, at);
  }

  function render() {
    renderOverall();
    renderEnvOptions();
    const host = $('envs');
    host.removeAttribute('aria-busy');
    const loading = host.querySelector('.loading');
    if (loading) loading.remove();
    const seenEnvs = new Set();
    const seenBots = new Set();
    model.envs.forEach((env, i) => {
      seenEnvs.add(env.name);
      let s = sections.get(env.name);
      if (!s) { s = makeSection(env); sections.set(env.name, s); }
      place(host, s.section, i);
      s.host.textContent = env.host;
      s.counts.replaceChildren(el('span', { class: 'total', text: `${env.summary.total} bots` }), ...countsLine(env.summary));
      env.bots.forEach((bot, j) => {
        seenBots.add(bot.key);
        let r = rows.get(bot.key);
        if (!r) { r = makeRow(bot); rows.set(bot.key, r); }
        fillRow(r, bot);
        place(s.tbody, r.tr, j);
      });
    });
    for (const [name, s] of sections) if (!seenEnvs.has(name)) { s.section.remove(); sections.delete(name); }
    for (const [key, r] of rows) if (!seenBots.has(key)) { r.tr.remove(); rows.delete(key); }
    renderProblems();
    applyFilters();
    tickClock();
  }

  function renderProblems() {
    const b = $('banner');
    if (!model.problems.length) { b.hidden = true; b.replaceChildren(); return; }
    b.hidden = false;
    b.replaceChildren(icon('alert'), el('span', {},
      ...model.problems.map((e) => el('span', { class: 'problem' }, el('code', { class: 'code', text: codeOf(e) || 'ERROR' }), ' ', e.message))));
  }

  function applyFilters() {
    let shown = 0;
    let total = 0;
    for (const env of model.envs) {
      const s = sections.get(env.name);
      let visible = 0;
      for (const bot of env.bots) {
        const ok = matches(bot);
        rows.get(bot.key).tr.hidden = !ok;
        if (ok) visible++;
      }
      s.section.hidden = filtering() && visible === 0;
      shown += visible;
      total += env.bots.length;
    }
    $('shown').textContent = filtering() ? `Showing ${shown} of ${total} bots` : `${total} bots in ${model.envs.length} environments`;
    $('nomatch').hidden = !(filtering() && shown === 0 && model.envs.length);
    $('f-clear').hidden = !filtering();
    renderOverall();
  }

  function setFilter(name, value) {
    filters[name] = value;
    if (name === 'state') $('f-state').value = value;
    if (name === 'env') $('f-env').value = value;
    writeURL();
    applyFilters();
  }

  // Relative times move on between two answers.
  function tickClock() {
    const now = Date.now();
    for (const t of document.querySelectorAll('[data-ago]')) t.textContent = ago(t.dataset.ago);
    for (const t of document.querySelectorAll('[data-age-from]')) t.textContent = span(now / 1000 - Number(t.dataset.ageFrom)) + ' old';
    if (model.receivedAt) $('updated').textContent = 'Updated ' + span((now - model.receivedAt) / 1000) + ' ago';
    if (feed.mode === 'offline' && feed.nextAt) {
      // A countdown screen readers do not hear every second: the status itself says "Offline".
      $('conn-when').textContent = ` · retrying in ${Math.max(0, Math.ceil((feed.nextAt - now) / 1000))} s`;
    }
  }

  // ---- details of one bot -------------------------------------------------------------------

  let detailKey = null;

  function dl(pairs) {
    const d = el('dl', { class: 'facts' });
    for (const [k, v] of pairs) d.append(el('dt', { text: k }), el('dd', {}, v));
    return d;
  }

  function renderDetail(bot, job, err) {
    const body = $('detail-body');
    $('detail-title').textContent = bot.name;
    const env = model.envs.find((e) => e.name === bot.env);
    $('detail-sub').textContent = `${bot.env} · ${env ? env.host : ''}`;
    const view = { ...bot, job: job === undefined ? bot.job : job, error: err === undefined ? bot.error : err };
    const parts = [el('div', { class: 'detail-state' }, stateCell(view))];
    const j = view.job;
    const facts = [['Bot ID', el('code', { text: bot.id })]];
    if (j) {
      facts.push(['Job', el('code', { text: j.id })], ['Started by', j.createdBy || '—'],
        ['Requested', timeEl(j.requestedTime)], ['Started', timeEl(j.initiatedOn)], ['Last change', timeEl(j.lastModifiedOn)],
        ['Status as sent', el('code', { text: j.rawStatus })], ['Freshness', freshCell(view)]);
    }
    parts.push(dl(facts));
    if (j && j.statusSummary) {
      const tb = el('tbody');
      for (const r of j.statusSummary) {
        const st = { SUCCESS: 'successful', FAILED: 'failed', INPROGRESS: 'inprogress' }[r.status] || 'unknown';
        tb.append(el('tr', { 'data-state': st },
          el('th', { scope: 'row' }, r.name || r.resourceId),
          el('td', {}, el('code', { text: r.resourceType })),
          el('td', { class: 'mods', text: r.modules.length ? r.modules.join(', ') : '—' }),
          el('td', {}, badge(st, st === 'successful' ? 'Success' : st === 'unknown' ? 'Unknown: ' + r.rawStatus : null))));
      }
      parts.push(el('table', { class: 'resources' },
        el('caption', { text: `Resources (${j.statusSummary.length})` }),
        el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Resource' }), el('th', { scope: 'col', text: 'Type' }),
          el('th', { scope: 'col', text: 'Modules' }), el('th', { scope: 'col', text: 'State' }))), tb));
    } else if (j) {
      parts.push(el('p', { class: 'muted', text: 'Loading the resources of this publish…' }));
    } else if (!view.error) {
      parts.push(el('p', { class: 'muted', text: 'This bot has never been published: Kore.ai has no publish job for it.' }));
    }
    body.replaceChildren(...parts);
  }

  async function loadDetail() {
    const key = detailKey;
    const bot = key && model.byKey.get(key);
    if (!bot) return;
    try {
      const res = await graphql(DETAIL_QUERY, { environment: bot.env, botId: bot.id });
      if (detailKey !== key) return;
      const e = (res.errors || [])[0];
      renderDetail(bot, res.data.publishStatus || null,
        e ? { code: codeOf(e) || 'INTERNAL', message: stripPrefix(e.message, bot.env, bot.id) } : null);
    } catch (e) {
      if (e instanceof AuthError) needToken(e.message);
    }
  }

  function openDetail(key) {
    const bot = model.byKey.get(key);
    if (!bot) return;
    detailKey = key;
    renderDetail(bot);
    const d = $('detail');
    if (!d.open) d.showModal();
    loadDetail();
  }

  // ---- the feed: subscription when the schema has one, polling otherwise --------------------

  const feed = {
    mode: 'connecting',
    timer: 0,
    nextAt: 0,
    failures: 0,
    busy: false,
    // Whether the schema has the subscription: unknown until probed; ?live=0 forces polling.
    hasSubscription: new URLSearchParams(location.search).get('live') === '0' ? false : null,
    ws: null,
    live: false,
    liveRetryAt: 0,
    refs: '', // the bots subscribed to
  };

  function setMode(mode, text) {
    feed.mode = mode;
    const c = $('conn');
    c.dataset.state = mode;
    c.title = '';
    $('conn-text').textContent = text;
    $('conn-when').textContent = '';
    const retry = $('retry');
    retry.hidden = !(mode === 'offline' || mode === 'auth');
    retry.textContent = mode === 'auth' ? 'Enter token' : 'Retry now';
  }

  function schedule(ms) {
    clearTimeout(feed.timer);
    feed.nextAt = Date.now() + ms;
    feed.timer = setTimeout(tick, ms);
  }

  async function tick() {
    if (feed.busy) return;
    feed.busy = true;
    clearTimeout(feed.timer);
    try {
      const body = await graphql(BOARD_QUERY);
      feed.failures = 0;
      applyBoard(body);
      render();
      if (detailKey) loadDetail();
      if (feed.hasSubscription === null) feed.hasSubscription = await probeSubscription();
      if (feed.ws && feed.refs !== refsKey()) stopLive(); // bots came or went: subscribe anew
      if (feed.hasSubscription && !feed.ws && Date.now() >= feed.liveRetryAt) startLive();
      if (feed.live) {
        setMode('live', 'Live');
        schedule(LIVE_REFRESH_MS);
      } else {
        const every = anyPublishing() ? POLL_BUSY_MS : POLL_MS;
        setMode('polling', `Polling · every ${every / 1000} s`);
        schedule(every);
      }
    } catch (e) {
      if (e instanceof AuthError) {
        needToken(e.message);
      } else {
        feed.failures++;
        const wait = Math.min(MAX_BACKOFF_MS, 2000 * 2 ** (feed.failures - 1));
        schedule(wait);
        setMode('offline', 'Offline');
        $('conn-when').textContent = ` · retrying in ${Math.ceil(wait / 1000)} s`;
        $('conn').title = 'Last error: ' + e.message;
      }
    } finally {
      feed.busy = false;
    }
  }

  function restart() {
    stopLive();
    feed.failures = 0;
    feed.liveRetryAt = 0;
    setMode('connecting', 'Connecting…');
    tick();
  }

  // probeSubscription asks the schema once whether Subscription.publishStatusChanged exists. A
  // gateway with introspection off answers with an error: the board then polls.
  async function probeSubscription() {
    try {
      const res = await graphql(PROBE_QUERY);
      const t = res.data.__schema.subscriptionType;
      return !!(t && t.fields.some((f) => f.name === 'publishStatusChanged'));
    } catch (e) {
      if (e instanceof AuthError) throw e;
      return false;
    }
  }

  // startLive subscribes over graphql-transport-ws to every bot on the board. Any failure falls
  // back to polling, and the subscription is tried again a minute later.
  const refsKey = () => [...model.byKey.keys()].join('\n');

  function startLive() {
    const refs = [...model.byKey.values()].map((b) => ({ environment: b.env, botId: b.id }));
    if (!refs.length) return;
    feed.refs = refsKey();
    const url = new URL(ENDPOINT, location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try { ws = new WebSocket(url.href, 'graphql-transport-ws'); } catch { feed.liveRetryAt = Date.now() + LIVE_RETRY_MS; return; }
    feed.ws = ws;
    const send = (m) => ws.send(JSON.stringify(m));
    ws.addEventListener('open', () => {
      const t = token.get();
      send({ type: 'connection_init', payload: t ? { Authorization: 'Bearer ' + t } : {} });
    });
    ws.addEventListener('message', (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch { return; }
      switch (msg.type) {
        case 'connection_ack':
          send({ id: 'board', type: 'subscribe', payload: { query: SUBSCRIPTION, variables: { refs } } });
          feed.live = true;
          setMode('live', 'Live');
          schedule(LIVE_REFRESH_MS);
          break;
        case 'ping': send({ type: 'pong' }); break;
        case 'next': applyEvent(msg.payload); break;
        case 'error': case 'complete': ws.close(1000); break;
        default: break;
      }
    });
    ws.addEventListener('close', (ev) => {
      if (feed.ws !== ws) return;
      feed.ws = null;
      const wasLive = feed.live;
      feed.live = false;
      feed.liveRetryAt = Date.now() + LIVE_RETRY_MS;
      if (ev.code === 4401 || ev.code === 4403) { needToken('the subscription was refused'); return; }
      if (wasLive) tick();
    });
  }

  function stopLive() {
    const ws = feed.ws;
    feed.ws = null;
    feed.live = false;
    if (ws) ws.close(1000);
  }

  // ---- token dialog -------------------------------------------------------------------------

  function needToken(why) {
    clearTimeout(feed.timer);
    stopLive();
    setMode('auth', 'Token needed');
    openToken(`The gateway refused the request (${why}). Paste a token to continue.`);
  }

  function openToken(why) {
    $('token-why').textContent = why || 'Paste a publishgate token. It is kept in this tab only (session storage) and sent as Authorization: Bearer.';
    $('token-input').value = '';
    const d = $('token');
    if (!d.open) d.showModal();
    $('token-input').focus();
  }

  // ---- wall mode ----------------------------------------------------------------------------

  function setWall(on) {
    document.documentElement.classList.toggle('wall', on);
    $('large').setAttribute('aria-pressed', String(on));
  }

  // ---- wiring -------------------------------------------------------------------------------

  function wire() {
    $('f-env').addEventListener('change', (e) => setFilter('env', e.target.value));
    $('f-state').addEventListener('change', (e) => setFilter('state', e.target.value));
    $('f-q').addEventListener('input', (e) => setFilter('q', e.target.value.trim()));
    $('filters').addEventListener('submit', (e) => e.preventDefault());
    $('f-clear').addEventListener('click', () => {
      filters.env = filters.state = filters.q = '';
      $('f-env').value = $('f-state').value = $('f-q').value = '';
      writeURL();
      applyFilters();
      $('f-q').focus();
    });
    $('large').addEventListener('click', () => { setWall(!document.documentElement.classList.contains('wall')); writeURL(); });
    $('retry').addEventListener('click', () => (feed.mode === 'auth' ? openToken() : restart()));
    $('token-btn').addEventListener('click', () => openToken());
    $('token-form').addEventListener('submit', (e) => {
      e.preventDefault();
      token.set($('token-input').value.trim());
      $('token').close();
      restart();
    });
    $('token-clear').addEventListener('click', () => { token.set(''); $('token').close(); restart(); });
    for (const b of document.querySelectorAll('[data-close]')) b.addEventListener('click', () => b.closest('dialog').close());
    $('detail').addEventListener('close', () => { detailKey = null; });
    for (const d of document.querySelectorAll('dialog')) {
      // A click on the backdrop (the dialog element itself, outside its content) closes it.
      d.addEventListener('click', (e) => { if (e.target === d) d.close(); });
    }
    document.addEventListener('keydown', (e) => {
      const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
      if (typing || e.ctrlKey || e.metaKey || e.altKey || document.querySelector('dialog[open]')) return;
      if (e.key === '/') { e.preventDefault(); $('f-q').focus(); }
      if (e.key === 'l' || e.key === 'L') $('large').click();
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && feed.mode !== 'auth' && !feed.live) tick();
    });
    setInterval(tickClock, 1000);
  }

  readURL();
  showToken();
  wire();
  tick();
})();
