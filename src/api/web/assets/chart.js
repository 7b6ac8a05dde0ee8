// The speed chart: the total and each job's speed over the last five minutes, drawn on a
// canvas every second from the bytes the jobs report (no library). A stalled download's
// line falls to zero: speed here is bytes that arrived, not what the last report claimed.
import { $, el, rate } from './dom.js';

const WINDOW_S = 300;
const COLORS = ['#e8590c', '#2b8a3e', '#ae3ec9', '#1098ad', '#d6336c', '#5c940d', '#f59f00'];
const samples = [];          // {t, total, per: Map(id -> bytes/s)}
const lastBytes = new Map(); // id -> {bytes, t}
const names = new Map();     // id -> label
let state_ = null;

function sample() {
  const now = performance.now() / 1000;
  const per = new Map();
  let total = 0;
  for (const [id, job] of state_.jobs) {
    const b = job.progress?.downloaded_bytes ?? 0;
    names.set(id, `${job.model_name}:${job.version}`);
    const last = lastBytes.get(id);
    lastBytes.set(id, { bytes: b, t: now });
    if (!last || b < last.bytes || now <= last.t) continue;  // new, or started over
    const r = (b - last.bytes) / (now - last.t);
    if (r > 0 || job.state === 'downloading') per.set(id, r);
    total += r;
  }
  for (const id of lastBytes.keys()) if (!state_.jobs.has(id)) lastBytes.delete(id);
  samples.push({ t: now, total, per });
  while (samples.length && samples[0].t < now - WINDOW_S) samples.shift();
  draw(now);
}

function draw(now) {
  const canvas = $('speed-chart');
  if (canvas.offsetParent === null) return;  // not shown
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const style = getComputedStyle(document.body);
  const ink = style.getPropertyValue('--muted').trim() || '#888';
  const accent = style.getPropertyValue('--accent').trim() || '#2f5bd3';
  // At least 1 MB/s full scale: an idle chart is not a scale of a few bytes.
  const max = Math.max(1e6, ...samples.map((s) => s.total));
  const left = 70, bottom = h - 18;
  const x = (t) => left + ((t - (now - WINDOW_S)) / WINDOW_S) * (w - left - 8);
  const y = (v) => bottom - (v / max) * (bottom - 8);
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = ink;
  ctx.strokeStyle = ink;
  ctx.globalAlpha = 0.35;
  for (const f of [0, 0.5, 1]) {
    ctx.beginPath(); ctx.moveTo(left, y(max * f)); ctx.lineTo(w - 8, y(max * f)); ctx.stroke();
  }
  ctx.globalAlpha = 1;
  for (const f of [0, 0.5, 1]) ctx.fillText(rate(max * f), 4, y(max * f) + 4);
  ctx.fillText('5 min ago', left, h - 4);
  ctx.fillText('now', w - 30, h - 4);
  const line = (values, color, width) => {
    ctx.beginPath();
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    let started = false;
    for (const s of samples) {
      const v = values(s);
      if (v === undefined) { started = false; continue; }
      if (!started) ctx.moveTo(x(s.t), y(v)); else ctx.lineTo(x(s.t), y(v));
      started = true;
    }
    ctx.stroke();
  };
  const ids = [...new Set(samples.flatMap((s) => [...s.per.keys()]))];
  ids.forEach((id, i) => line((s) => s.per.get(id), COLORS[i % COLORS.length], 1.25));
  line((s) => s.total, accent, 2.5);
  const current = samples.length ? samples[samples.length - 1].total : 0;
  $('speed-now').textContent = `now ${rate(current)}`;
  $('chart-legend').replaceChildren(
    el('li', {}, el('span', { class: 'swatch total' }), 'All downloads'),
    ...ids.map((id, i) => {
      const sw = el('span', { class: 'swatch' });
      sw.style.background = COLORS[i % COLORS.length];
      return el('li', {}, sw, names.get(id) || id);
    }));
}

export function init(state) {
  state_ = state;
  sample();  // the axes at once; a point a second from then on
  setInterval(sample, 1000);
  window.addEventListener('hashchange', () => requestAnimationFrame(() => draw(performance.now() / 1000)));
}
