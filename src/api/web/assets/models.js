// The Models view (installed versions with what is inside them, loaded or not, load,
// unload, remove with a confirmation, files and digests on demand) and the Catalog view
// (search every catalog; one click downloads).
import { api } from './api.js';
import { $, bytes, count, el, when } from './dom.js';
import { changed, refreshDisk, refreshModels } from './app.js';
import { download } from './jobs.js';

const open = new Set();  // refs whose details are shown
const full = new Map();  // ref -> the version as GET /models/{name} gives it (files, digests)
const busy = new Map();  // ref -> what is being done
const errors = new Map();

function modelPath(name) { return name.split('/').map(encodeURIComponent).join('/'); }

// Asks before a destructive action; resolves true when confirmed.
export function confirmAction(title, text, ok = 'Remove') {
  const d = $('confirm-dialog');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = ok;
  d.returnValue = '';
  d.showModal();
  $('confirm-cancel').focus();
  return new Promise((resolve) => d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true }));
}

async function run(m, what, fn) {
  busy.set(m.ref, what);
  errors.delete(m.ref);
  changed('models');
  try {
    await fn();
  } catch (e) {
    errors.set(m.ref, `${what} failed: ${e.message}`);
  } finally {
    busy.delete(m.ref);
    await refreshModels().catch(() => {});
    changed('models');
  }
}

function load(m) {
  return run(m, 'Loading', () => api('POST', `/models/${modelPath(m.name)}/load`, { version: m.version }));
}
function unload(m) {
  return run(m, 'Unloading', () => api('POST', `/models/${modelPath(m.name)}/unload`, { version: m.version }));
}
async function remove(m) {
  if (!(await confirmAction(`Remove ${m.ref}?`,
    `Its files (${bytes(m.size)}) are deleted unless another model shares them. This cannot be undone.`))) return;
  await run(m, 'Removing', async () => {
    await api('DELETE', `/models/${modelPath(m.name)}?version=${encodeURIComponent(m.version)}`);
    await refreshDisk();
  });
}

// Shows or hides a model's details; the files and digests come from GET /models/{name}.
async function toggle(m) {
  if (open.has(m.ref)) { open.delete(m.ref); changed('models'); return; }
  open.add(m.ref);
  changed('models');
  try {
    const r = await api('GET', `/models/${modelPath(m.name)}`);
    for (const v of r.versions) full.set(v.ref, v);
  } catch (e) {
    errors.set(m.ref, `Details failed: ${e.message}`);
  }
  changed('models');
}

function details(listed) {
  const m = full.get(listed.ref) || listed;
  const i = m.inspection || {};
  const facts = [['Source', m.source], ['Path', m.path], ['Installed', when(m.installed_at)],
                 ['Format', i.format], ['Layers', i.block_count], ['Embedding', i.embedding_length],
                 ['Bits per weight', i.bits_per_weight?.toFixed?.(2)], ['Description', m.description],
                 ['Inspection', i.error]].filter(([, v]) => v !== undefined && v !== null && v !== '' &&
                                                   v !== 0 && v !== '0.00');
  const files = (m.files || []).map((f) => el('tr', {},
    el('td', { class: 'path', 'data-label': 'File' }, f.path),
    el('td', { 'data-label': 'Size' }, bytes(f.size)),
    el('td', { class: 'digest', 'data-label': 'SHA-256' }, el('code', {}, f.sha256))));
  return el('div', { class: 'details' },
    el('dl', {}, facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, String(v))])),
    files.length ? el('table', { class: 'files' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'File'), el('th', { scope: 'col' }, 'Size'),
        el('th', { scope: 'col' }, 'SHA-256'))),
      el('tbody', {}, files)) : null,
    m.problems?.length ? el('p', { class: 'error' }, m.problems.join('; ')) : null);
}

function files(m) {
  const n = Number((full.get(m.ref) || m).files?.length ?? m.inspection?.files?.length ?? m.inspection?.files ?? 0);
  return n ? el('span', { class: 'muted' }, ` · ${n} file${n === 1 ? '' : 's'}`) : null;
}

export function render(state) {
  const body = $('models-body');
  const rows = [];
  for (const m of state.models) {
    const i = m.inspection || {};
    const loaded = !!m.loaded;
    const doing = busy.get(m.ref);
    const status = doing ? `${doing}…` : loaded ? 'loaded' : m.status;
    const expander = el('button', { type: 'button', class: 'expand', 'aria-expanded': String(open.has(m.ref)),
      'aria-label': `${open.has(m.ref) ? 'Hide' : 'Show'} the files of ${m.ref}`, 'data-key': `${m.ref}:files`,
      onclick: () => toggle(m) },
      open.has(m.ref) ? '▾' : '▸');
    rows.push(el('tr', { class: 'model', 'data-model': m.ref, 'data-status': status },
      el('td', { class: 'name', 'data-label': 'Model' }, expander, el('span', { class: 'model' }, m.ref),
        m.source ? el('span', { class: 'muted url' }, m.source) : null),
      el('td', { 'data-label': 'Size' }, bytes(m.size), files(m)),
      el('td', { 'data-label': 'Architecture' }, i.architecture || '—'),
      el('td', { 'data-label': 'Parameters' }, i.parameters || (i.parameter_count ? count(i.parameter_count) : '—')),
      el('td', { 'data-label': 'Quantization' }, i.quantization || '—'),
      el('td', { 'data-label': 'Context' }, i.context_length ? i.context_length.toLocaleString() : '—'),
      el('td', { 'data-label': 'Status' }, el('span', { class: `stage s-${status.replace(/[^a-z]/g, '')}` }, status),
        errors.has(m.ref) ? el('p', { class: 'error', role: 'status' }, errors.get(m.ref)) : null),
      el('td', { class: 'actions' },
        loaded
          ? el('button', { type: 'button', class: 'subtle', 'aria-disabled': doing ? 'true' : null,
                           'data-key': `${m.ref}:unload`, 'aria-label': `Unload ${m.ref}`,
                           onclick: () => { if (!busy.has(m.ref)) unload(m); } }, 'Unload')
          : el('button', { type: 'button', class: 'subtle', disabled: m.status !== 'available',
                           'aria-disabled': doing ? 'true' : null, 'data-key': `${m.ref}:load`,
                           'aria-label': `Load ${m.ref}`, onclick: () => { if (!busy.has(m.ref)) load(m); } }, 'Load'),
        el('button', { type: 'button', class: 'danger subtle', 'aria-disabled': doing ? 'true' : null,
                       'data-key': `${m.ref}:remove`, 'aria-label': `Remove ${m.ref}`,
                       onclick: () => { if (!busy.has(m.ref)) remove(m); } }, 'Remove'))));
    if (open.has(m.ref)) rows.push(el('tr', { class: 'details-row' }, el('td', { colspan: 8 }, details(m))));
  }
  let focused = document.activeElement?.dataset?.key;
  body.replaceChildren(...rows);
  if (focused && !body.querySelector(`[data-key="${CSS.escape(focused)}"]`)) {
    // Load became Unload (or back): the focus follows to the button that replaced it.
    focused = focused.replace(/:(un)?load$/, (s) => (s === ':load' ? ':unload' : ':load'));
  }
  if (focused) body.querySelector(`[data-key="${CSS.escape(focused)}"]`)?.focus();
  $('models-empty').hidden = state.models.length > 0;
  $('models-table').hidden = state.models.length === 0;
  $('count-models').textContent = state.models.length ? String(state.models.length) : '';
  const l = state.loaded;
  $('loaded-info').textContent = l
    ? `${l.models.length} loaded · ${bytes(l.loaded_bytes)} in memory${l.max_loaded_bytes ? ` of at most ${bytes(l.max_loaded_bytes)}` : ''}`
    : '';
}

// --- the catalog ------------------------------------------------------------------------
let searched = false;
async function search(q) {
  $('catalog-error').textContent = '';
  try {
    const r = await api('GET', `/catalog${q ? `?q=${encodeURIComponent(q)}` : ''}`);
    $('catalog-sources').textContent = r.sources.length
      ? `Catalogs: ${r.sources.map((s) => `${s.name} (${s.models})`).join(', ')}` : 'No catalogs configured.';
    const rows = r.models.map((m) => {
      const name = m.name;
      const version = m.latest || m.versions?.[0]?.version || 'latest';
      const ref = `${name}:${version}`;
      const button = el('button', { type: 'button', class: 'subtle', 'data-key': `cat:${ref}`,
        'aria-label': `Download ${ref}`, onclick: async () => {
          button.disabled = true;
          button.textContent = 'Starting…';
          try {
            await download({ model_name: name, version, ...(m.source && m.source !== 'default' ? { source: m.source } : {}) });
            button.textContent = 'Started';
          } catch (e) {
            button.disabled = false;
            button.textContent = 'Download';
            $('catalog-error').textContent = `${ref}: ${e.message}`;
          }
        } }, 'Download');
      const versions = (m.versions || []).map((v) => v.version);
      return el('tr', { 'data-catalog': ref },
        el('td', { class: 'name', 'data-label': 'Model' }, el('span', { class: 'model' }, ref),
          versions.length > 1 ? el('span', { class: 'muted url' }, `versions: ${versions.join(', ')}`) : null),
        el('td', { 'data-label': 'Description' }, m.description || '',
          m.tags?.length ? el('span', { class: 'muted url' }, m.tags.join(' · ')) : null),
        el('td', { 'data-label': 'Files' }, String(m.versions?.find((v) => v.version === version)?.files?.length ?? '—')),
        el('td', { 'data-label': 'Source' }, m.source || ''),
        el('td', { class: 'actions' }, button));
    });
    $('catalog-body').replaceChildren(...rows);
    $('catalog-empty').hidden = rows.length > 0;
  } catch (e) {
    $('catalog-error').textContent = `Search failed: ${e.message}`;
  }
}

export function showCatalog() {
  if (!searched) { searched = true; search(''); }
}

export function init() {
  $('catalog-form').addEventListener('submit', (ev) => { ev.preventDefault(); search($('catalog-q').value.trim()); });
}
