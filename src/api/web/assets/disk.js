// The Disk view: what the store uses and what is free, what each model takes, the partial
// downloads jobs keep (each can be deleted), and gc (a dry run first says what it frees).
import { api } from './api.js';
import { $, bytes, el } from './dom.js';
import { refreshDisk, refreshJobs } from './app.js';
import { confirmAction } from './models.js';

function stat(label, value, note) {
  return el('div', { class: 'stat' }, el('span', { class: 'label' }, label), el('span', { class: 'value' }, value),
    note ? el('span', { class: 'muted' }, note) : null);
}

async function deletePartial(job) {
  if (!(await confirmAction(`Delete the partial download of ${job.model_name}:${job.version}?`,
    `${bytes(job.progress?.downloaded_bytes)} downloaded so far are deleted; downloading it again starts over.`,
    'Delete'))) return;
  try {
    await api('DELETE', `/model-download/${encodeURIComponent(job.download_id)}`);
  } finally {
    await Promise.all([refreshJobs(), refreshDisk()]).catch(() => {});
  }
}

async function gc() {
  const out = $('gc-result');
  try {
    const dry = await api('POST', '/gc', { dry_run: true });
    const would = dry.freed_bytes ?? 0;  // partials' bytes included
    if (!(await confirmAction('Clean up unused files?',
      `Files no model uses and abandoned partial downloads older than a week go (not those a download will resume): about ${bytes(would)} would be freed.`,
      'Clean up'))) return;
    const rep = await api('POST', '/gc', {});
    out.textContent = `Freed ${bytes(rep.freed_bytes ?? 0)}: ${rep.blobs_removed ?? 0} unused files, ${rep.partials_removed ?? 0} partial downloads.`;
  } catch (e) {
    out.textContent = `Clean-up failed: ${e.message}`;
  } finally {
    await refreshDisk().catch(() => {});
  }
}

export function render(state) {
  const c = state.cache;
  if (c) {
    const used = c.blob_bytes ?? 0, free = c.free_bytes ?? 0, partial = c.partial_bytes ?? 0;
    $('disk-stats').replaceChildren(
      stat('Models', bytes(used), `${c.models ?? 0} versions · ${c.blobs ?? 0} files`),
      stat('Partial downloads', bytes(partial), `${c.partials ?? 0} kept`),
      stat('Free space', bytes(free), c.data_dir ? `on ${c.data_dir}` : ''),
      stat('Shared', bytes(Math.max(0, (c.logical_bytes ?? used) - used)), 'saved by files models share'));
    const total = used + partial + free || 1;
    const part = (cls, v, label) => {
      const s = el('span', { class: cls, title: `${label}: ${bytes(v)}` });
      s.style.width = `${(100 * v) / total}%`;
      return s;
    };
    const meter = $('disk-meter');
    meter.setAttribute('aria-label', `Models ${bytes(used)}, partial downloads ${bytes(partial)}, free ${bytes(free)}`);
    meter.replaceChildren(part('used', used, 'Models'), part('partial', partial, 'Partial downloads'), part('free', free, 'Free'));
    const per = [...(c.per_model || [])].map((p) => (Array.isArray(p) ? { ref: p[0], size: p[1] } : p))
      .sort((a, b) => (b.size ?? b.bytes ?? 0) - (a.size ?? a.bytes ?? 0));
    const biggest = Math.max(1, ...per.map((p) => p.size ?? p.bytes ?? 0));
    $('disk-models').replaceChildren(...per.map((p) => {
      const size = p.size ?? p.bytes ?? 0;
      const fill = el('span');
      fill.style.width = `${(100 * size) / biggest}%`;
      return el('li', {}, el('span', { class: 'model' }, p.ref ?? p.model ?? ''), el('span', { class: 'hbar' }, fill),
        el('span', { class: 'muted' }, bytes(size)));
    }));
  }
  // A failed download keeps its partial for a retry, unless what it had was corrupt.
  const partials = [...state.jobs.values()].filter((j) => (j.progress?.downloaded_bytes ?? 0) > 0 &&
    (['paused', 'queued'].includes(j.state) || (j.state === 'failed' && j.error_code !== 'Corrupt')));
  $('partials-body').replaceChildren(...partials.map((j) => el('tr', {},
    el('td', { class: 'name', 'data-label': 'Download' }, `${j.model_name}:${j.version}`),
    el('td', { 'data-label': 'State' }, j.state),
    el('td', { 'data-label': 'Downloaded' }, bytes(j.progress?.downloaded_bytes)),
    el('td', { class: 'actions' }, el('button', { type: 'button', class: 'danger subtle', 'data-key': `partial:${j.download_id}`,
      'aria-label': `Delete the partial download of ${j.model_name}:${j.version}`, onclick: () => deletePartial(j) }, 'Delete')))));
  $('partials-empty').hidden = partials.length > 0;
  $('partials-table').hidden = partials.length === 0;
}

export function init() {
  $('gc-button').addEventListener('click', gc);
}
