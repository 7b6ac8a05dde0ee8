// The dashboard's entry: the views (#downloads, #models, #catalog, #disk), the connection
// to the server and the state every view renders from.
//
// The state is the server's: jobs come from GET /model-download and then the /ws
// WebSocket (a snapshot of each job, then every state change and progress); models, disk
// and loaded models from their routes, fetched again when a job ends or an action is
// taken. When the socket closes (a server restart, a network change) the page says so,
// reconnects with backoff, and resynchronises everything, so a page left open for hours
// shows what the server has now.
import { api, socketUrl } from './api.js';
import { $ } from './dom.js';
import * as jobs from './jobs.js';
import * as models from './models.js';
import * as disk from './disk.js';
import * as chart from './chart.js';

export const state = {
  jobs: new Map(),       // download_id -> the job's latest object (progress, files, error)
  maxConcurrent: null,   // --max-downloads
  running: 0,
  models: [],            // GET /models: installed versions
  loaded: null,          // GET /loaded
  cache: null,           // GET /cache
  connected: false,
  version: '',
};

// --- rendering: each view redraws at most once per frame --------------------------------
const dirty = new Set();
let frame = 0;
export function changed(...views) {
  for (const v of views) dirty.add(v);
  if (!frame) frame = requestAnimationFrame(render);
}
function render() {
  frame = 0;
  const views = [...dirty];
  dirty.clear();
  if (views.includes('jobs')) jobs.render(state);
  if (views.includes('models')) models.render(state);
  if (views.includes('disk')) disk.render(state);
}

// --- refreshing from the server ---------------------------------------------------------
// A job is what the server last said of it, whole: an event replaces the job's state,
// progress, files and error (keeping what only listings carry), a listing replaces the
// job unless an event about it arrived after the listing was asked for (then the event is
// newer). Nothing is merged field by field, so nothing the server dropped lingers.
const LISTING_ONLY = ['priority', 'created_at', 'download_url', 'queue_position'];

function fromEvent(old, ev) {
  const job = { ...ev, eventAt: performance.now() };
  for (const k of LISTING_ONLY) if (k in old && !(k in ev)) job[k] = old[k];
  jobs.observe(job, old);
  return job;
}

function fromListing(old, entry) {
  const job = { ...entry, eventAt: old.eventAt };
  jobs.observe(job, old);
  return job;
}

function applyEvent(ev) {
  const job = fromEvent(state.jobs.get(ev.download_id) || {}, ev);
  state.jobs.set(ev.download_id, job);
  return job;
}

// The server's list replaces the page's: jobs it forgot go, queue places are its. A
// listing older than one already applied (refreshes overlap) is dropped.
let asked = 0;
let applied = 0;
export async function refreshJobs() {
  const seq = ++asked;
  const sentAt = performance.now();
  const list = await api('GET', '/model-download');
  if (seq < applied) return;
  applied = seq;
  const next = new Map();
  for (const entry of list.downloads) {
    const old = state.jobs.get(entry.download_id);
    if (old && old.eventAt > sentAt) {
      const kept = { ...old };
      for (const k of LISTING_ONLY) { if (k in entry) kept[k] = entry[k]; else delete kept[k]; }
      next.set(entry.download_id, kept);
    } else {
      next.set(entry.download_id, fromListing(old || {}, entry));
    }
  }
  // A job created by an event after the listing was asked for is not in it yet.
  for (const [id, job] of state.jobs) if (!next.has(id) && job.eventAt > sentAt) next.set(id, job);
  state.jobs = next;
  state.maxConcurrent = list.max_concurrent ?? null;
  state.running = list.running ?? 0;
  changed('jobs', 'disk');
}

export async function refreshModels() {
  const [m, l] = await Promise.all([api('GET', '/models'), api('GET', '/loaded')]);
  state.models = m.models.filter((x) => x.status !== 'loading');
  state.loaded = l;
  changed('models', 'disk');
}

export async function refreshDisk() {
  state.cache = await api('GET', '/cache');
  changed('disk');
}

export async function refreshAll() {
  await Promise.all([refreshJobs(), refreshModels(), refreshDisk()]);
}

// A refresh that runs once for a burst of events (every job that ends refreshes models).
function debounced(fn, ms) {
  let timer = 0;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(() => fn().catch(() => {}), ms);
  };
}
const soonJobs = debounced(refreshJobs, 150);
const soonModels = debounced(async () => { await refreshModels(); await refreshDisk(); }, 150);

// --- the connection ---------------------------------------------------------------------
let socket = null;
let backoff = 500;
let retryTimer = 0;
let retryAt = 0;

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

// |text| is said once (the banner is an alert); |detail| (the countdown) is not announced.
function setConnection(kind, text, detail = '') {
  const was = state.connected;
  state.connected = kind === 'live';
  $('conn').dataset.state = kind;
  setText($('conn-text'), detail ? `${text} ${detail}` : text);
  const banner = $('banner');
  banner.hidden = kind !== 'lost';
  if (kind === 'lost') {
    setText($('banner-text'), text);
    setText($('banner-when'), detail);
  }
  if (was !== state.connected) changed('jobs');  // stalls are unknown while disconnected
}

function onMessage(msg) {
  if (!msg || !msg.download_id) return;
  if (msg.type === 'removed') {  // forgotten (here, in another tab, or by the CLI)
    state.jobs.delete(msg.download_id);
    soonJobs();
    changed('jobs', 'disk');
    return;
  }
  const known = state.jobs.has(msg.download_id);
  const job = applyEvent(msg);
  if (msg.type === 'notice' && msg.notice) jobs.notice(job, msg.notice);
  // Queue places and new jobs' details come with the list: fetched on state changes.
  if (!known || msg.type === 'state' || msg.type === 'done') soonJobs();
  if (msg.type === 'done') soonModels();
  changed('jobs');
}

function scheduleReconnect(why) {
  clearTimeout(retryTimer);
  retryAt = Date.now() + backoff;
  const tick = () => {
    const left = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    setConnection('lost', `Connection to modeld lost${why ? ` (${why})` : ''}.`, `Reconnecting in ${left} s…`);
    if (left > 0) retryTimer = setTimeout(tick, 250);
    else connect();
  };
  tick();
  backoff = Math.min(backoff * 2, 5000);
}

export async function connect() {
  clearTimeout(retryTimer);
  if (socket) { socket.onclose = null; socket.close(); socket = null; }
  setConnection('connecting', 'Connecting…');
  try {
    const v = await api('GET', '/version');
    state.version = v.version;
    await refreshAll();
  } catch (e) {
    scheduleReconnect(e.status ? `HTTP ${e.status}` : 'server unreachable');
    return;
  }
  const ws = new WebSocket(socketUrl('/ws'));
  socket = ws;
  ws.onopen = () => {
    backoff = 500;
    setConnection('live', `Live · modeld ${state.version}`);
  };
  ws.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    onMessage(msg);
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    scheduleReconnect('');
  };
}

// --- views ------------------------------------------------------------------------------
const VIEWS = ['downloads', 'models', 'catalog', 'disk'];
function showView() {
  const name = VIEWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'downloads';
  for (const v of VIEWS) {
    $(`view-${v}`).hidden = v !== name;
    const link = document.querySelector(`nav a[data-view="${v}"]`);
    if (v === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `modeld · ${name[0].toUpperCase()}${name.slice(1)}`;
  if (name === 'catalog') models.showCatalog();
  if (name === 'disk') refreshDisk().catch(() => {});
}

window.addEventListener('hashchange', showView);
document.addEventListener('DOMContentLoaded', () => {
  $('banner-retry').addEventListener('click', () => { backoff = 500; connect(); });
  jobs.init(state);
  models.init(state);
  disk.init(state);
  chart.init(state);
  showView();
  connect();
});
