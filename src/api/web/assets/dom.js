// DOM and formatting helpers. Text from the server is only ever set as text (textContent,
// attributes), never parsed as HTML.

// el('button', {class: 'x', onclick: fn, 'aria-label': 'Pause'}, 'Pause', child...)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export const $ = (id) => document.getElementById(id);

// Sets |node|'s children, skipping null, undefined and false (replaceChildren would write
// them as text).
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

// Replaces |node|'s children, keeping the focused element's place when the new children
// include an element with the same data-key (re-rendered lists stay usable by keyboard).
export function replaceChildren(node, children) {
  const active = document.activeElement;
  const key = active && node.contains(active) ? active.dataset.key : undefined;
  node.replaceChildren(...children);
  if (key) node.querySelector(`[data-key="${CSS.escape(key)}"]`)?.focus();
}

export function bytes(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function rate(bps) {
  return bps > 0 ? `${bytes(bps)}/s` : '0 B/s';
}

export function duration(s) {
  if (s === null || s === undefined || !Number.isFinite(s) || s < 0) return 'unknown';
  s = Math.round(s);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function count(n) {
  if (!Number.isFinite(n)) return '—';
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(0)}M`;
  return String(n);
}

export function when(unixSeconds) {
  if (!unixSeconds) return '';
  return new Date(unixSeconds * 1000).toLocaleString();
}

// A progress bar: role progressbar with its value for assistive technology.
export function bar(percent, label, cls = '') {
  const p = Math.max(0, Math.min(100, Number(percent) || 0));
  // Through the CSSOM: the Content-Security-Policy refuses style attributes.
  const fill = el('span');
  fill.style.width = `${p}%`;
  return el('div', { class: `bar ${cls}`, role: 'progressbar', 'aria-valuemin': 0,
                     'aria-valuemax': 100, 'aria-valuenow': Math.round(p), 'aria-label': label }, fill);
}
