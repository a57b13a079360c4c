// tsraft web console (docs/console.md). Plain browser JavaScript, no build
// step, no framework; the only library is uPlot (window.uPlot), served by the
// node from its installed package. Talks to this node only:
//   /status, /console/api/cluster, /backups, /api/aggregators, /api/suggest, /api/query
// Text from the server is always inserted with textContent, never as HTML.
'use strict';
(function main() {
  const CLUSTER_REFRESH_MS = 2000;
  const BACKUPS_REFRESH_MS = 10000;
  const DATA_REFRESH_MS = 10000;
  const SUGGEST_DELAY_MS = 150;
  const SUGGEST_MAX = 25;
  /** Points drawn at most; a larger answer is cut (and the summary says so). */
  const MAX_CHART_POINTS = 500000;
  const FALLBACK_AGGREGATORS = ['sum', 'avg', 'min', 'max', 'count', 'dev', 'zimsum', 'mimmin', 'mimmax', 'none'];
  const COLORS = ['#2f6fde', '#e0542c', '#1f9d6b', '#9b4dca', '#d4a017', '#0c9bb5', '#c2416b', '#5b6b7f', '#7cb518', '#f28e2b'];
  const TOKEN_KEY = 'tsraft.console.token';

  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

  const state = {
    view: 'cluster',
    timers: {},
    chart: null,
    lastResult: null,
    nodeId: null,
    querySeq: 0,
  };

  // ---------------------------------------------------------------- helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = String(value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  function formatNumber(n) {
    if (n === null || n === undefined) return '—';
    return Number(n).toLocaleString('en-US');
  }

  function formatBytes(n) {
    if (n === null || n === undefined) return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let value = n;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit++;
    }
    return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
  }

  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined) return '—';
    if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
    if (seconds < 120) return Number.isInteger(seconds) ? `${seconds} s` : `${seconds.toFixed(1)} s`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 120) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return `${hours} h ${minutes % 60} min`;
    return `${Math.floor(hours / 24)} d ${hours % 24} h`;
  }

  function formatValue(v) {
    if (typeof v !== 'number' || !Number.isFinite(v)) return String(v);
    if (Number.isInteger(v)) return v.toLocaleString('en-US');
    const abs = Math.abs(v);
    if (abs >= 1000) return v.toLocaleString('en-US', { maximumFractionDigits: 1 });
    return Number(v.toPrecision(4)).toString();
  }

  function token() {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch {
      return null;
    }
  }

  class HttpError extends Error {
    constructor(status, message, code) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /** GET a JSON document from this node; errors carry the server's message. */
  async function getJson(path, { auth = false } = {}) {
    const headers = { accept: 'application/json' };
    const t = auth ? token() : null;
    if (t) headers.authorization = `Bearer ${t}`;
    let response;
    try {
      response = await fetch(path, { headers, cache: 'no-store' });
    } catch (error) {
      throw new HttpError(0, `this node does not answer (${error.message})`, 'UNREACHABLE');
    }
    const text = await response.text();
    let body = null;
    try {
      body = text === '' ? null : JSON.parse(text);
    } catch {
      body = text;
    }
    if (!response.ok) {
      const error = body && typeof body === 'object' ? body.error : null;
      const message = error && typeof error.message === 'string' ? error.message : `HTTP ${response.status}`;
      const code = error && typeof error.code === 'string' ? error.code : null;
      if (response.status === 401 && auth) showTokenDialog();
      throw new HttpError(response.status, message, code);
    }
    return body;
  }

  function setBanner(message) {
    const banner = $('[data-testid=banner]');
    banner.textContent = message || '';
    banner.classList.toggle('hidden', !message);
  }

  function setLive(ok, text) {
    const live = $('[data-testid=live]');
    live.classList.toggle('down', !ok);
    $('.live-text', live).textContent = text;
  }

  // ---------------------------------------------------------------- views

  function showView(view) {
    if (!['cluster', 'data', 'backups'].includes(view)) view = 'cluster';
    state.view = view;
    for (const section of $$('.view')) section.classList.toggle('hidden', section.dataset.view !== view);
    for (const tab of $$('.tab')) {
      const active = tab.dataset.view === view;
      tab.classList.toggle('active', active);
      tab.setAttribute('aria-selected', String(active));
    }
    stopTimer('cluster');
    stopTimer('backups');
    if (view === 'cluster') every('cluster', CLUSTER_REFRESH_MS, refreshCluster);
    if (view === 'backups') every('backups', BACKUPS_REFRESH_MS, refreshBackups);
    if (view === 'data') enterDataView();
  }

  function every(name, ms, fn) {
    stopTimer(name);
    const tick = async () => {
      try {
        await fn();
      } finally {
        if (state.timers[name] !== undefined) state.timers[name] = setTimeout(tick, ms);
      }
    };
    state.timers[name] = null;
    void tick();
  }

  function stopTimer(name) {
    if (state.timers[name]) clearTimeout(state.timers[name]);
    delete state.timers[name];
  }

  function routeFromHash() {
    const hash = location.hash.replace(/^#/, '');
    const [view, query] = hash.split('?');
    if (view === 'data' && query) {
      const params = new URLSearchParams(query);
      const form = $('[data-testid=query-form]');
      if (params.get('m')) form.m.value = params.get('m');
      if (params.get('start')) setRange(params.get('start'));
      if (params.get('end')) form.end.value = params.get('end');
      state.runOnEnter = Boolean(params.get('m'));
    }
    showView(view || 'cluster');
  }

  // ---------------------------------------------------------------- cluster

  async function refreshNodeInfo() {
    try {
      const status = await getJson('/status');
      state.nodeId = status.id;
      $('[data-testid=node-info]').textContent = `node ${status.id} · ${status.role} · v${status.version}`;
      document.title = `tsraft · ${status.id}`;
    } catch (error) {
      $('[data-testid=node-info]').textContent = 'node unreachable';
    }
  }

  async function refreshCluster() {
    let overview;
    try {
      overview = await getJson('/console/api/cluster');
    } catch (error) {
      setLive(false, `offline · ${error.message}`);
      setBanner(`Cannot read the cluster from this node: ${error.message}`);
      return;
    }
    setBanner('');
    setLive(true, `live · ${new Date().toLocaleTimeString()}`);
    renderCluster(overview);
    if (state.nodeId === null) void refreshNodeInfo();
  }

  function renderCluster(o) {
    const leader = $('[data-testid=leader]');
    leader.textContent = o.leader ?? 'none';
    leader.classList.toggle('bad', o.leader === null);
    $('[data-testid=term]').textContent = formatNumber(o.term);
    $('[data-testid=commit]').textContent = formatNumber(o.commitIndex);
    const healthy = o.members.filter((m) => m.health === 'healthy').length;
    const healthyCard = $('[data-testid=healthy]');
    healthyCard.textContent = `${healthy} / ${o.members.length}`;
    healthyCard.classList.toggle('bad', healthy < o.members.length);
    $('[data-testid=cluster-id]').textContent = o.clusterId;
    const me = o.members.find((m) => m.id === o.answeredBy);
    if (me && me.version) $('[data-testid=node-info]').textContent = `node ${me.id} · ${me.role} · v${me.version}`;

    const body = $('[data-testid=members] tbody');
    body.replaceChildren();
    if (o.members.length === 0) {
      body.append(el('tr', {}, el('td', { colspan: 9, class: 'muted', text: 'No members known yet (the node is starting or joining).' })));
      return;
    }
    for (const m of o.members) {
      const self = m.id === o.answeredBy;
      const row = el('tr', { 'data-member': m.id, 'data-role': m.role, 'data-health': m.health });
      const name = el('td', {}, el('strong', { text: m.id }));
      if (self) name.append(el('span', { class: 'tag', text: 'this node' }));
      row.append(
        name,
        el('td', {}, el('span', { class: `role role-${m.role}`, text: m.role })),
        el('td', { title: m.detail ?? '' }, el('span', { class: `health health-${m.health}` }, el('span', { class: 'dot' }), m.health.replace('-', ' '))),
        el('td', { class: 'num', text: formatNumber(m.term) }),
        el('td', { class: 'num', text: formatNumber(m.commitIndex) }),
        el('td', { class: 'num', text: formatNumber(m.appliedIndex) }),
        el('td', { class: `num ${m.lagEntries > 0 ? 'warn' : ''}`, text: m.lagEntries === null ? '—' : formatNumber(m.lagEntries) }),
        el('td', { class: 'num', text: m.uptimeSeconds === null ? '—' : formatDuration(m.uptimeSeconds) }),
        el('td', {}, m.clientUrl ? el('a', { href: m.clientUrl + '/', text: m.clientUrl }) : el('span', { class: 'muted', text: 'unknown' })),
      );
      body.append(row);
      if (m.detail && m.health !== 'healthy') {
        body.append(el('tr', { class: 'detail' }, el('td', { colspan: 9, text: `${m.id}: ${m.detail}` })));
      }
    }
  }

  // ---------------------------------------------------------------- backups

  async function refreshBackups() {
    let answer;
    try {
      answer = await getJson('/backups');
    } catch (error) {
      setBanner(`Cannot read the backups of this node: ${error.message}`);
      return;
    }
    setBanner('');
    const body = $('[data-testid=backups] tbody');
    body.replaceChildren();
    const backups = Array.isArray(answer.backups) ? answer.backups : [];
    $('[data-testid=no-backups]').classList.toggle('hidden', backups.length > 0);
    $('[data-testid=backups]').classList.toggle('hidden', backups.length === 0);
    for (const b of backups) {
      body.append(
        el(
          'tr',
          { 'data-backup': b.id },
          el('td', { text: new Date(b.startedAtMs).toLocaleString() }),
          el('td', { class: 'mono', text: b.id }),
          el('td', { text: b.kind ?? '—' }),
          el('td', { title: b.error ?? '' }, el('span', { class: `badge ${b.outcome === 'success' ? 'ok' : 'bad'}`, text: b.outcome })),
          el('td', {}, el('span', { class: `badge ${b.verification === 'verified' ? 'ok' : b.verification === 'failed' ? 'bad' : 'neutral'}`, text: b.verification })),
          el('td', { class: 'num', text: formatBytes(b.sizeBytes) }),
          el('td', { class: 'num', text: formatDuration(b.durationSeconds) }),
          el('td', { class: 'num', text: formatNumber(b.raftIndex) }),
        ),
      );
    }
  }

  // ---------------------------------------------------------------- data

  let dataInitialized = false;

  async function enterDataView() {
    const form = $('[data-testid=query-form]');
    if (!dataInitialized) {
      dataInitialized = true;
      await loadAggregators();
      await suggestMetrics('');
      if (form.m.value.trim() === '' && !state.runOnEnter) {
        const options = $$('#metric-suggest option').map((o) => o.value);
        const preferred = options.find((m) => m === 'tsraft.raft.applied_index') ?? options[0];
        if (preferred) {
          form.metric.value = preferred;
          if (preferred.startsWith('tsraft.')) form.tags.value = 'host=*';
          buildQueryFromFields();
        }
      }
    }
    if (state.runOnEnter) {
      state.runOnEnter = false;
      void runQuery();
    }
    resizeChart();
  }

  async function loadAggregators() {
    const select = $('[data-testid=aggregator]');
    let list = FALLBACK_AGGREGATORS;
    try {
      const answer = await getJson('/api/aggregators', { auth: true });
      if (Array.isArray(answer) && answer.length > 0) list = answer.slice().sort();
    } catch {
      // The fallback list covers OpenTSDB's common aggregators.
    }
    select.replaceChildren(...list.map((a) => el('option', { value: a, text: a })));
    select.value = list.includes('sum') ? 'sum' : list[0];
  }

  async function suggest(type, prefix, datalist, format) {
    try {
      const names = await getJson(`/api/suggest?type=${type}&q=${encodeURIComponent(prefix)}&max=${SUGGEST_MAX}`, { auth: true });
      if (!Array.isArray(names)) return;
      datalist.replaceChildren(...names.map((n) => el('option', { value: format(n) })));
    } catch {
      // Suggestions are a convenience: a failure leaves the list as it was.
    }
  }

  const suggestMetrics = (prefix) => suggest('metrics', prefix, $('#metric-suggest'), (n) => n);

  /** Suggests for the tag being typed (the text after the last comma): keys, or values once `key=` is there. */
  function suggestTags(text) {
    const comma = text.lastIndexOf(',');
    const head = comma < 0 ? '' : text.slice(0, comma + 1);
    const current = text.slice(comma + 1).trim();
    const eq = current.indexOf('=');
    if (eq < 0) return suggest('tagk', current, $('#tag-suggest'), (n) => `${head}${n}=*`);
    const key = current.slice(0, eq);
    const value = current.slice(eq + 1);
    return suggest('tagv', value === '*' ? '' : value, $('#tag-suggest'), (v) => `${head}${key}=${v}`);
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  function buildQueryFromFields() {
    const form = $('[data-testid=query-form]');
    const metric = form.metric.value.trim();
    if (metric === '') return;
    const parts = [form.aggregator.value || 'sum'];
    const downsample = form.downsample.value.trim();
    if (downsample !== '') parts.push(downsample);
    if (form.rate.checked) parts.push('rate');
    const tags = form.tags.value.trim().replace(/^\{|\}$/g, '');
    parts.push(tags === '' ? metric : `${metric}{${tags}}`);
    form.m.value = parts.join(':');
  }

  function setRange(start) {
    const form = $('[data-testid=query-form]');
    form.start.value = start;
    form.end.value = '';
    for (const button of $$('[data-range]')) button.classList.toggle('active', button.dataset.range === start);
  }

  async function runQuery() {
    const form = $('[data-testid=query-form]');
    const m = form.m.value.trim();
    const summary = $('[data-testid=result-summary]');
    if (m === '') {
      summary.textContent = 'Type a metric (suggestions appear as you type) or an OpenTSDB query such as sum:tsraft.raft.applied_index{host=*}.';
      summary.className = 'result-summary muted';
      return;
    }
    const start = form.start.value.trim() || '1h-ago';
    const end = form.end.value.trim();
    const params = new URLSearchParams({ start, m, arrays: 'true', ms: 'true' });
    if (end !== '') params.set('end', end);
    const hash = new URLSearchParams({ m, start });
    if (end !== '') hash.set('end', end);
    history.replaceState(null, '', `#data?${hash}`);
    const seq = ++state.querySeq;
    summary.textContent = 'Querying…';
    summary.className = 'result-summary muted';
    const startedAt = performance.now();
    let groups;
    try {
      groups = await getJson(`/api/query?${params}`, { auth: true });
    } catch (error) {
      if (seq !== state.querySeq) return;
      summary.textContent = error.message;
      summary.className = 'result-summary error';
      summary.dataset.points = '0';
      drawChart([]);
      return;
    }
    if (seq !== state.querySeq) return;
    const elapsedMs = Math.round(performance.now() - startedAt);
    const series = (Array.isArray(groups) ? groups : []).map((g) => ({ label: seriesLabel(g), dps: Array.isArray(g.dps) ? g.dps : Object.entries(g.dps || {}).map(([t, v]) => [Number(t), v]) }));
    let points = 0;
    for (const s of series) points += s.dps.length;
    summary.dataset.points = String(points);
    summary.dataset.series = String(series.length);
    summary.className = 'result-summary';
    summary.textContent = series.length === 0 ? `No data for ${m} in this range (${elapsedMs} ms).` : `${series.length} series · ${formatNumber(points)} points · ${elapsedMs} ms${points > MAX_CHART_POINTS ? ' · chart shows the first ' + formatNumber(MAX_CHART_POINTS) : ''}`;
    state.lastResult = series;
    drawChart(series);
    renderSeriesTable(series);
  }

  function seriesLabel(group) {
    const tags = Object.entries(group.tags || {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    return tags === '' ? group.metric : `${group.metric}{${tags}}`;
  }

  function renderSeriesTable(series) {
    const table = $('[data-testid=series-table]');
    const body = $('tbody', table);
    body.replaceChildren();
    series.forEach((s, i) => {
      const last = s.dps.length > 0 ? s.dps[s.dps.length - 1][1] : null;
      body.append(
        el(
          'tr',
          {},
          el('td', {}, el('span', { class: 'swatch', style: `background:${COLORS[i % COLORS.length]}` })),
          el('td', { class: 'mono', text: s.label }),
          el('td', { class: 'num', text: formatNumber(s.dps.length) }),
          el('td', { class: 'num', text: last === null ? '—' : formatValue(Number(last)) }),
        ),
      );
    });
    table.classList.toggle('hidden', series.length === 0);
  }

  /** uPlot wants one x array (seconds) shared by every series; gaps are null. */
  function alignSeries(series) {
    const xs = new Set();
    let budget = MAX_CHART_POINTS;
    const cut = series.map((s) => {
      const take = s.dps.slice(0, Math.max(0, budget));
      budget -= take.length;
      return take;
    });
    for (const dps of cut) for (const [t] of dps) xs.add(t);
    const x = Array.from(xs).sort((a, b) => a - b);
    const position = new Map(x.map((t, i) => [t, i]));
    const ys = cut.map((dps) => {
      const y = new Array(x.length).fill(null);
      for (const [t, v] of dps) y[position.get(t)] = Number(v);
      return y;
    });
    return [x.map((t) => t / 1000), ...ys];
  }

  function drawChart(series) {
    const container = $('[data-testid=chart]');
    if (state.chart) {
      state.chart.destroy();
      state.chart = null;
    }
    container.replaceChildren();
    container.classList.toggle('empty', series.length === 0);
    if (series.length === 0 || typeof window.uPlot !== 'function') return;
    const data = alignSeries(series);
    const options = {
      width: Math.max(320, container.clientWidth - 2),
      height: 340,
      scales: { x: { time: true } },
      legend: { show: series.length <= 12 },
      cursor: { drag: { x: true, y: false } },
      axes: [{ stroke: '#5b6677', grid: { stroke: '#eef1f5' } }, { stroke: '#5b6677', grid: { stroke: '#eef1f5' }, size: 70, values: (u, ticks) => ticks.map(formatValue) }],
      series: [{}].concat(
        series.map((s, i) => ({
          label: s.label,
          stroke: COLORS[i % COLORS.length],
          width: 1.5,
          spanGaps: true,
          points: { show: data[0].length <= 60 },
          value: (u, v) => (v === null ? '—' : formatValue(v)),
        })),
      ),
    };
    state.chart = new window.uPlot(options, data, container);
    container.dataset.series = String(series.length);
  }

  function resizeChart() {
    if (!state.chart) return;
    const container = $('[data-testid=chart]');
    state.chart.setSize({ width: Math.max(320, container.clientWidth - 2), height: 340 });
  }

  // ---------------------------------------------------------------- token

  function showTokenDialog() {
    $('[data-testid=token-dialog]').classList.remove('hidden');
  }

  // ---------------------------------------------------------------- wiring

  function wire() {
    const form = $('[data-testid=query-form]');
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void runQuery();
    });
    const onMetricInput = debounce(() => void suggestMetrics(form.metric.value.trim()), SUGGEST_DELAY_MS);
    form.metric.addEventListener('input', () => {
      onMetricInput();
      buildQueryFromFields();
    });
    form.tags.addEventListener('focus', () => void suggestTags(form.tags.value));
    const onTagsInput = debounce(() => void suggestTags(form.tags.value), SUGGEST_DELAY_MS);
    form.tags.addEventListener('input', onTagsInput);
    for (const name of ['aggregator', 'downsample', 'tags', 'rate']) {
      form[name].addEventListener('input', buildQueryFromFields);
      form[name].addEventListener('change', buildQueryFromFields);
    }
    for (const button of $$('[data-range]')) {
      button.addEventListener('click', () => {
        setRange(button.dataset.range);
        void runQuery();
      });
    }
    form.auto.addEventListener('change', () => {
      if (form.auto.checked) every('data', DATA_REFRESH_MS, runQuery);
      else stopTimer('data');
    });
    $('[data-testid=token-dialog] form').addEventListener('submit', (event) => {
      event.preventDefault();
      const value = event.target.token.value.trim();
      try {
        sessionStorage.setItem(TOKEN_KEY, value);
      } catch {
        // Private mode: the token lasts until the page reloads.
      }
      $('[data-testid=token-dialog]').classList.add('hidden');
      dataInitialized = false;
      if (state.view === 'data') void enterDataView();
    });
    window.addEventListener('hashchange', routeFromHash);
    window.addEventListener('resize', debounce(resizeChart, 100));
    document.addEventListener('visibilitychange', () => {
      // A hidden tab stops polling; it resumes where it was when shown again.
      if (document.hidden) {
        stopTimer('cluster');
        stopTimer('backups');
      } else {
        showView(state.view);
      }
    });
  }

  wire();
  void refreshNodeInfo();
  routeFromHash();
})();
