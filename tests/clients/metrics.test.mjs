// GET /metrics (issue 16) read by a real Prometheus text-format parser,
// parse-prometheus-text-format (a port of the Prometheus Python client's parser), after a
// download from a test origin through a real `modeld serve` (MODELD_BIN, else build/modeld):
// every family has its type, the counters moved by what was done (bytes by source, a
// completed job, requests by route pattern and status, a latency histogram), and the
// gauges say what the store holds.
//
//   MODELD_BIN=build/modeld node --test tests/clients/metrics.test.mjs
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import parsePrometheusTextFormat from 'parse-prometheus-text-format';

import { request, startModeld, startOrigin } from './lib/modeld.mjs';

const MiB = 1024 * 1024;
const TOKEN = 'pr0m-token';
const AUTH = { Authorization: `Bearer ${TOKEN}` };

let origin;
let modeld;

before(async () => {
  origin = await startOrigin();
  modeld = await startModeld({ args: ['--token', TOKEN] });
});

after(async () => {
  await modeld?.close();
  await origin?.close();
});

// The families modeld must expose, and their types as the parser names them.
const FAMILIES = {
  modeld_download_bytes_total: 'COUNTER',
  modeld_download_retries_total: 'COUNTER',
  modeld_download_reconnects_total: 'COUNTER',
  modeld_engine_connections: 'GAUGE',
  modeld_http_request_duration_seconds: 'HISTOGRAM',
  modeld_http_requests_total: 'COUNTER',
  modeld_jobs_active: 'GAUGE',
  modeld_jobs_finished_total: 'COUNTER',
  modeld_jobs_paused: 'GAUGE',
  modeld_jobs_queued: 'GAUGE',
  modeld_loaded_bytes: 'GAUGE',
  modeld_loaded_models: 'GAUGE',
  modeld_store_blob_bytes: 'GAUGE',
  modeld_store_blobs: 'GAUGE',
  modeld_store_free_bytes: 'GAUGE',
  modeld_store_models: 'GAUGE',
};

// Scrapes /metrics and parses it. Throws (failing the test) when the answer is not 200 in
// the text format's content type, when the parser throws, or when it read a sample it could
// not make a number of or left one out (it is lenient: a broken line becomes an empty value).
async function scrape() {
  const res = await request(`${modeld.base}/metrics`, { headers: AUTH });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const families = parsePrometheusTextFormat(res.text);
  const byName = new Map(families.map((f) => [f.name, f]));
  assert.equal(byName.size, families.length, 'each family once');
  let parsed = 0;
  for (const f of families) {
    if (f.type === 'HISTOGRAM') continue;  // checked child by child: see histogramChild
    for (const m of f.metrics) {
      assert.ok(m.value !== '' && !Number.isNaN(Number(m.value)),
                `${f.name} ${JSON.stringify(m)}: not a number`);
      parsed += 1;
    }
  }
  const lines = res.text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const histogramLines = lines.filter((l) => l.startsWith('modeld_http_request_duration_seconds'));
  assert.equal(parsed, lines.length - histogramLines.length, 'every sample line was read');
  return { text: res.text, families, byName };
}

// The value of |family|'s sample whose labels are exactly |labels|, as a number; undefined
// when there is none.
function value(scraped, family, labels = undefined) {
  const f = scraped.byName.get(family);
  assert.ok(f, `no family ${family}`);
  const m = f.metrics.find((s) => JSON.stringify(s.labels) === JSON.stringify(labels));
  return m === undefined ? undefined : Number(m.value);
}

// One child of a histogram, through the parser. parse-prometheus-text-format 1.1.1 keeps
// the labels of no histogram child (it merges them all into one, and drops _sum and
// _count when they carry labels), so the child's own lines are parsed alone, with its
// labels other than le taken out: {buckets: {le: count}, count, sum}.
function histogramChild(scraped, family, labels) {
  const selector = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',');
  const mine = scraped.text.split('\n').filter((l) => l.startsWith(`${family}_`) &&
    (l.includes(`{${selector},`) || l.includes(`{${selector}}`)));
  if (mine.length === 0) return undefined;
  const unlabelled = mine.map((l) => l.replace(`${selector},`, '').replace(`{${selector}}`, ''));
  const text = `# TYPE ${family} histogram\n${unlabelled.join('\n')}\n`;
  const [child] = parsePrometheusTextFormat(text);
  assert.equal(child.type, 'HISTOGRAM');
  assert.equal(child.metrics.length, 1, text);
  return child.metrics[0];
}

test('every family is exposed with its type before anything happened', async () => {
  const m = await scrape();
  for (const [name, type] of Object.entries(FAMILIES)) {
    assert.equal(m.byName.get(name)?.type, type, `${name}: ${m.byName.get(name)?.type}`);
    assert.ok(m.byName.get(name).help.length > 0, `${name} has help`);
  }
  assert.equal(value(m, 'modeld_store_blob_bytes'), 0);
  assert.equal(value(m, 'modeld_store_models'), 0);
  assert.ok(value(m, 'modeld_store_free_bytes') > 0);
  assert.equal(value(m, 'modeld_jobs_active'), 0);
  assert.equal(value(m, 'modeld_engine_connections'), 0);
  assert.equal(value(m, 'modeld_download_retries_total'), 0);
});

test('a download moves the counters, requests are counted by route pattern', async () => {
  const file = origin.add('metered.bin', 3 * MiB + 4321);
  const pulled = await request(`${modeld.base}/model-download?wait=true`, {
    method: 'POST', headers: AUTH,
    body: { model_name: 'metered', download_url: file.url, checksum: `sha256:${file.sha256}` },
  });
  assert.equal(pulled.status, 200, pulled.text);
  const missing = await request(`${modeld.base}/model-download/dwnld_ffffffffffff/progress`,
                                { headers: AUTH });
  assert.equal(missing.status, 404);
  const unauthorised = await request(`${modeld.base}/metrics`);
  assert.equal(unauthorised.status, 401);

  const m = await scrape();
  assert.equal(value(m, 'modeld_download_bytes_total', { source: 'url' }), file.size);
  assert.equal(value(m, 'modeld_jobs_finished_total', { outcome: 'completed', reason: 'none' }), 1);
  const requests = (route, method, status) =>
    value(m, 'modeld_http_requests_total', { route, method, status: String(status) });
  assert.equal(requests('/model-download', 'POST', 200), 1);
  assert.equal(requests('/model-download/:id/progress', 'GET', 404), 1);
  assert.equal(requests('/metrics', 'GET', 401), 1);
  assert.ok(requests('/metrics', 'GET', 200) >= 1);
  assert.ok(!m.text.includes('dwnld_ffffffffffff'), 'a path is never a label value');

  const latency = histogramChild(m, 'modeld_http_request_duration_seconds',
                                 { route: '/model-download', method: 'POST', status: '200' });
  assert.ok(latency, m.text);
  assert.equal(Number(latency.count), 1);
  assert.equal(Number(latency.buckets['+Inf']), 1);
  assert.ok(Number(latency.sum) > 0);
  // Cumulative: never smaller at a larger bound.
  const bounds = Object.keys(latency.buckets).filter((b) => b !== '+Inf').map(Number)
    .sort((a, b) => a - b);
  assert.ok(bounds.length >= 10, JSON.stringify(latency.buckets));
  for (let i = 1; i < bounds.length; i++) {
    assert.ok(Number(latency.buckets[String(bounds[i])]) >=
              Number(latency.buckets[String(bounds[i - 1])]));
  }

  assert.equal(value(m, 'modeld_store_blob_bytes'), file.size);
  assert.equal(value(m, 'modeld_store_blobs'), 1);
  assert.equal(value(m, 'modeld_store_models'), 1);
  assert.equal(value(m, 'modeld_jobs_active'), 0);
  assert.equal(value(m, 'modeld_jobs_queued'), 0);
  assert.equal(value(m, 'modeld_engine_connections'), 0);
  assert.equal(value(m, 'modeld_loaded_models'), 0);
});
