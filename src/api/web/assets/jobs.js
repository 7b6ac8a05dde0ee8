// The Downloads view: the new-download form (the seed's fields and a Hub selection, errors
// shown beside the field they concern), the queue, and one row per job that expands to
// one row per file, with pause, resume, cancel, retry and remove.
//
// A stall is shown honestly: a downloading job the server says is stalled (current_stage),
// or whose bytes have not moved here for STALL_MS (events lost), reads "stalled", its speed
// 0 and its ETA unknown, whatever the last report said.
import { api, ApiError } from './api.js';
import { $, bar, bytes, duration, el, fill, rate } from './dom.js';
import { changed, refreshJobs, state as appState } from './app.js';
import { confirmAction } from './models.js';

export const STALL_MS = 5000;

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}
const FIELDS = ['model_name', 'version', 'download_url', 'checksum', 'from', 'quantization',
                'revision', 'include', 'exclude', 'force_download'];
const expanded = new Set();        // job ids whose files are shown
const notices = new Map();         // job id -> {text, until}
const rows = new Map();            // job id -> {tr, files, key}

// Called for every update of a job (|old| is what the page knew): when did its bytes last
// move?
export function observe(job, old) {
  const done = job.progress?.downloaded_bytes ?? 0;
  if (old.movedAt === undefined || done !== (old.progress?.downloaded_bytes ?? 0) || job.state !== old.state) {
    job.movedAt = performance.now();
  } else {
    job.movedAt = old.movedAt;
  }
}

// Only while connected: a page that hears nothing cannot tell a stall from a lost socket.
export function stalled(job) {
  if (!appState.connected || job.state !== 'downloading') return false;
  return job.progress?.current_stage === 'stalled' || performance.now() - job.movedAt > STALL_MS;
}

export function notice(job, n) {
  const text = n.kind === 'retry'
    ? `Retrying${n.file ? ` ${n.file}` : ''} (attempt ${n.attempt}): ${n.reason}`
    : n.kind === 'waiting' ? `Waiting for another modeld process (pid ${n.pid}) using ${n.what}` : '';
  if (text) notices.set(job.download_id, { text, until: performance.now() + 15000 });
}

function stage(job) {
  if (stalled(job)) return 'stalled';
  if (job.state === 'queued' && job.queue_position) return `queued · #${job.queue_position}`;
  return job.state || job.status || 'unknown';
}

const ORDER = { downloading: 0, verifying: 0, installing: 0, resolving: 0, queued: 1, paused: 2,
                failed: 3, cancelled: 3, completed: 4 };
function sorted(state) {
  return [...state.jobs.values()].sort((a, b) => {
    const d = (ORDER[a.state] ?? 5) - (ORDER[b.state] ?? 5);
    if (d) return d;
    if (a.state === 'queued') return (a.queue_position ?? 1e9) - (b.queue_position ?? 1e9);
    return (b.created_at ?? 0) - (a.created_at ?? 0);
  });
}

async function act(job, action) {
  // Removing a failed download deletes the partial a retry would resume: asked first.
  if (action === 'remove' && job.state === 'failed' && (job.progress?.downloaded_bytes ?? 0) > 0 &&
      !(await confirmAction(`Remove ${label(job)}?`,
        `Its partial download (${bytes(job.progress.downloaded_bytes)}) is deleted; a retry would have resumed it.`))) {
    return;
  }
  try {
    if (action === 'remove') await api('DELETE', `/model-download/${encodeURIComponent(job.download_id)}`);
    else await api('POST', `/model-download/${encodeURIComponent(job.download_id)}/${action}`);
    await refreshJobs();
  } catch (e) {
    notices.set(job.download_id, { text: `${action} failed: ${e.message}`, until: performance.now() + 10000 });
    changed('jobs');
  }
}

function actions(job) {
  switch (job.state) {
    case 'queued': case 'resolving': case 'downloading': return ['pause', 'cancel'];
    case 'verifying': case 'installing': return ['cancel'];
    case 'paused': return ['resume', 'cancel'];
    case 'failed': case 'cancelled': return ['retry', 'remove'];
    case 'completed': return ['remove'];
    default: return [];
  }
}

const LABELS = { pause: 'Pause', resume: 'Resume', cancel: 'Cancel', retry: 'Retry', remove: 'Remove' };

function label(job) { return `${job.model_name}:${job.version}`; }

function fileRows(job) {
  const list = job.files || [];
  if (!list.length) return [el('p', { class: 'muted' }, 'No per-file progress yet.')];
  const body = list.map((f) => {
    const pct = f.total_bytes ? (100 * f.downloaded_bytes) / f.total_bytes : (f.state === 'completed' ? 100 : 0);
    return el('tr', {},
      el('td', { class: 'path', 'data-label': 'File' }, f.path, f.reused ? el('span', { class: 'tag' }, 'reused') : null),
      el('td', { 'data-label': 'State' }, f.state),
      el('td', { 'data-label': 'Progress' }, bar(pct, `${f.path} progress`, 'small'),
        el('span', { class: 'muted' }, `${bytes(f.downloaded_bytes)} of ${bytes(f.total_bytes)}`)),
      el('td', { class: 'digest', 'data-label': 'Digest' }, f.digest ? f.digest.slice(0, 19) + '…' : ''));
  });
  return [el('table', { class: 'files' },
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'File'), el('th', { scope: 'col' }, 'State'),
      el('th', { scope: 'col' }, 'Progress'), el('th', { scope: 'col' }, 'Digest'))),
    el('tbody', {}, body))];
}

// The row of |job|, created once and updated in place (so a focused button keeps focus).
function rowFor(job) {
  const id = job.download_id;
  let r = rows.get(id);
  if (!r) {
    const toggle = el('button', { type: 'button', class: 'expand', 'aria-expanded': 'false',
                                  'aria-controls': `files-${id}`, 'data-key': `${id}:files` });
    toggle.addEventListener('click', () => {
      if (expanded.has(id)) expanded.delete(id); else expanded.add(id);
      changed('jobs');
    });
    const cells = { name: el('td', { class: 'name', 'data-label': 'Model' }), stage: el('td', { 'data-label': 'Stage' }),
                    progress: el('td', { class: 'progress', 'data-label': 'Progress' }),
                    speed: el('td', { 'data-label': 'Speed' }), eta: el('td', { 'data-label': 'ETA' }),
                    actions: el('td', { class: 'actions' }) };
    const tr = el('tr', { class: 'job', 'data-job': id }, Object.values(cells));
    const files = el('tr', { class: 'files-row', id: `files-${id}`, hidden: true }, el('td', { colspan: 6 }));
    const model = el('span', { class: 'model' });
    const url = el('span', { class: 'url muted' });
    cells.name.append(toggle, model, url);  // built once: the toggle keeps its focus
    r = { tr, files, cells, toggle, model, url, actionKey: '', stageKey: '' };
    rows.set(id, r);
  }
  const c = r.cells;
  const p = job.progress || {};
  const st = stage(job);
  r.tr.dataset.state = job.state;
  r.tr.dataset.stage = st;
  r.toggle.textContent = expanded.has(id) ? '▾' : '▸';
  r.toggle.setAttribute('aria-expanded', String(expanded.has(id)));
  r.toggle.setAttribute('aria-label', `${expanded.has(id) ? 'Hide' : 'Show'} the files of ${label(job)}`);
  const note = notices.get(id);
  if (note && note.until < performance.now()) notices.delete(id);
  setText(r.model, label(job));
  setText(r.url, job.download_url || '');
  r.url.title = job.download_url || '';
  r.url.hidden = !job.download_url;
  // Rebuilt only when what it says changes (its error is announced once).
  const stageKey = [st, job.error, notices.get(id)?.text].join('\u0000');
  if (stageKey !== r.stageKey) {
    r.stageKey = stageKey;
    fill(c.stage, el('span', { class: `stage s-${st.split(' ')[0]}` }, st),
      job.error ? el('p', { class: 'error', role: 'status' }, job.error) : null,
      notices.has(id) ? el('p', { class: 'notice' }, notices.get(id).text) : null);
  }
  const pct = p.percentage ?? 0;
  fill(c.progress, bar(pct, `${label(job)} progress`, st.split(' ')[0]),
    el('span', { class: 'muted' }, `${Math.floor(pct)} % · ${bytes(p.downloaded_bytes)} of ${bytes(p.total_bytes || null)}`));
  const moving = ['downloading', 'resolving'].includes(job.state) && !stalled(job);
  // The server says 0 for an ETA it does not know.
  const eta = p.eta_seconds > 0 || (p.eta_seconds === 0 && pct >= 100) ? duration(p.eta_seconds) : 'unknown';
  setText(c.speed, moving ? rate((p.speed_mbps ?? 0) * 1e6) : job.state === 'downloading' ? '0 B/s' : '');
  setText(c.eta, moving ? eta : job.state === 'downloading' ? 'unknown' : '');
  const acts = actions(job);
  const key = acts.join(',');
  if (key !== r.actionKey) {
    r.actionKey = key;
    // Focus on a button that goes (Pause becoming Resume) moves to its successor.
    const hadFocus = c.actions.contains(document.activeElement);
    c.actions.replaceChildren(...acts.map((a) => el('button', {
      type: 'button', class: a === 'cancel' || a === 'remove' ? 'danger subtle' : 'subtle',
      'data-key': `${id}:${a}`, 'data-action': a, 'aria-label': `${LABELS[a]} ${label(job)}`,
      onclick: () => act(state_.jobs.get(id) || job, a) }, LABELS[a])));
    if (hadFocus) c.actions.querySelector('button')?.focus();
  }
  r.files.hidden = !expanded.has(id);
  if (expanded.has(id)) fill(r.files.firstChild, fileRows(job));
  return r;
}

let state_ = null;

export function render(state) {
  state_ = state;
  const list = sorted(state);
  const body = $('jobs-body');
  const want = [];
  for (const job of list) {
    const r = rowFor(job);
    want.push(r.tr, r.files);
  }
  for (const [id, r] of rows) {
    if (!state.jobs.has(id)) { r.tr.remove(); r.files.remove(); rows.delete(id); expanded.delete(id); }
  }
  // Moved only when the order changed: moving a node drops its focus.
  const same = want.length === body.children.length && want.every((n, i) => body.children[i] === n);
  if (!same) {
    const focused = document.activeElement?.dataset?.key;
    body.replaceChildren(...want);
    if (focused) body.querySelector(`[data-key="${CSS.escape(focused)}"]`)?.focus();
  }
  $('jobs-empty').hidden = list.length > 0;
  $('jobs-table').hidden = list.length === 0;
  const waiting = list.filter((j) => j.state === 'queued').length;
  const running = list.filter((j) => ['resolving', 'downloading', 'verifying', 'installing'].includes(j.state)).length;
  setText($('queue-info'), state.maxConcurrent
    ? `${running} of at most ${state.maxConcurrent} downloads running · ${waiting} waiting in the queue`
    : '');
  const active = list.filter((j) => !['completed', 'failed', 'cancelled'].includes(j.state)).length;
  setText($('count-downloads'), active ? String(active) : '');
}

// --- the form ---------------------------------------------------------------------------
function clearErrors() {
  for (const f of FIELDS) {
    $(`e-${f}`).textContent = '';
    $(`f-${f}`).removeAttribute('aria-invalid');
  }
  $('e-form').textContent = '';
}

function showError(field, message) {
  if (field && $(`e-${field}`)) {
    $(`e-${field}`).textContent = message;
    $(`f-${field}`).setAttribute('aria-invalid', 'true');
    $(`f-${field}`).focus();
  } else {
    $('e-form').textContent = message;
  }
}

// Which field a refusal concerns: the one the server names, else by its typed reason.
function fieldOf(err, body) {
  if (err.field) return err.field.split('.')[0];
  switch (err.reason) {
    case 'ALREADY_INSTALLED': return 'force_download';
    case 'UNKNOWN_MODEL': case 'HUB_ACCESS': return body.from ? 'from' : 'model_name';
    case 'HTTP_STATUS': return body.download_url ? 'download_url' : body.from ? 'from' : 'model_name';
    default: return null;
  }
}

function list(v) { return v.split(',').map((s) => s.trim()).filter(Boolean); }

async function submit(ev) {
  ev.preventDefault();
  clearErrors();
  const v = (f) => $(`f-${f}`).value.trim();
  const body = {};
  for (const f of ['model_name', 'version', 'download_url', 'checksum', 'from', 'quantization', 'revision']) {
    if (v(f)) body[f] = v(f);
  }
  if (!body.model_name && body.from) body.model_name = body.from;
  if (!body.model_name) { showError('model_name', 'Give the model a name (or a Hub reference).'); return; }
  if (v('include')) body.include = list(v('include'));
  if (v('exclude')) body.exclude = list(v('exclude'));
  if ($('f-force_download').checked) body.force_download = true;
  const button = $('download-submit');
  button.disabled = true;
  button.textContent = 'Starting…';
  try {
    await api('POST', '/model-download', body);
    $('download-form').reset();
    await refreshJobs();
  } catch (e) {
    if (e instanceof ApiError) showError(fieldOf(e, body), e.message);
    else showError(null, `modeld cannot be reached: ${e.message}`);
  } finally {
    button.disabled = false;
    button.textContent = 'Download';
  }
}

export function init(state) {
  state_ = state;
  $('download-form').addEventListener('submit', submit);
  // Stalls are a matter of time: the rows are looked at again every second.
  setInterval(() => { if ([...state.jobs.values()].some((j) => j.state === 'downloading')) changed('jobs'); }, 1000);
}

// Starts a download of a catalog model (the catalog's one-click button).
export async function download(body) {
  await api('POST', '/model-download', body);
  await refreshJobs();
}
