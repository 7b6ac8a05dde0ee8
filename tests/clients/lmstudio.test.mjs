// modeld's LM Studio REST API v1 dialect (issue 14) driven the way third-party LM Studio
// clients drive it: plain fetch with "Authorization: Bearer lm-studio", POST
// /api/v1/models/download, then GET /api/v1/models/download/status/:job_id every poll
// interval until "completed" or "failed" ("already_downloaded" from the POST is done too),
// the percentage computed from downloaded_bytes / total_size_bytes, and error.message read
// first, then error as a string. (@lmstudio/sdk speaks LM Studio's own WebSocket RPC, not
// this API: dialects.md section 2.) Against a real `modeld serve` (MODELD_BIN, else
// build/modeld) whose catalog names files on a test origin on 127.0.0.1.
//
//   MODELD_BIN=build/modeld node --test tests/clients/lmstudio.test.mjs
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import { request, startModeld, startOrigin } from './lib/modeld.mjs';

const MiB = 1024 * 1024;
const DEADLINE = { timeout: 120000 };
// How often the clients poll the status (they use about 2 s; the origin here is quicker).
const POLL_MS = 100;

let origin;
let modeld;
let scratch;
let slow;  // acme/slow-chat: a throttled file, so that polls see it downloading
let fast;  // acme/fast-chat

before(async () => {
  origin = await startOrigin();
  slow = origin.add('slow-chat.gguf', 2 * MiB);
  fast = origin.add('fast-chat.gguf', MiB);
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'modeld-lmstudio-'));
  const entry = (name, file, url) => ({
    name, description: 'a test chat model', latest: 'v1',
    versions: [{ version: 'v1', files: [{ url, size: file.size, sha256: file.sha256 }] }],
  });
  const catalog = path.join(scratch, 'catalog.json');
  fs.writeFileSync(catalog, JSON.stringify({
    name: 'lms',
    models: [entry('acme/slow-chat', slow, slow.slowUrl), entry('acme/fast-chat', fast, fast.url)],
  }));
  modeld = await startModeld({ args: ['--catalog', `lms=${catalog}`] });
});

after(async () => {
  await modeld?.close();
  await origin?.close();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

// A call as the clients make it: JSON in and out, the bearer token they send by default.
function lms(base, route, { method = 'GET', body, token = 'lm-studio' } = {}) {
  const headers = token === null ? {} : { Authorization: `Bearer ${token}` };
  return request(`${base}${route}`, { method, body, headers });
}

// What the clients show of an error reply.
function errorMessage(json) {
  return json?.error?.message ?? json?.error;
}

// A client's download: POST, then poll until it ends. Resolves {first, last, percents}.
async function download(model, extra = {}) {
  const first = await lms(modeld.base, '/api/v1/models/download', {
    method: 'POST', body: { model, ...extra },
  });
  assert.equal(first.status, 200, first.text);
  if (first.json.status === 'already_downloaded' || first.json.status === 'completed') {
    return { first: first.json, last: first.json, percents: [] };
  }
  const percents = [];
  for (;;) {
    const r = await lms(modeld.base, `/api/v1/models/download/status/${first.json.job_id}`);
    assert.equal(r.status, 200, r.text);
    const job = r.json;
    if (job.total_size_bytes > 0) percents.push((100 * job.downloaded_bytes) / job.total_size_bytes);
    if (job.status === 'completed' || job.status === 'failed') {
      return { first: first.json, last: job, percents };
    }
    assert.ok(['downloading', 'paused'].includes(job.status), r.text);
    await delay(POLL_MS);  // the client's poll interval
  }
}

test('a download is a job polled to completed, then already_downloaded', DEADLINE, async () => {
  const { first, last, percents } = await download('acme/slow-chat');
  assert.match(first.job_id, /\S/);
  assert.equal(first.status, 'downloading');
  assert.equal(first.total_size_bytes, slow.size);
  assert.match(first.started_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(typeof first.bytes_per_second, 'number');
  assert.equal(last.status, 'completed', JSON.stringify(last));
  assert.equal(last.downloaded_bytes, slow.size);
  assert.match(last.completed_at, /^\d{4}-\d\d-\d\dT/);
  assert.ok(percents.length >= 2, `polled ${percents.length} times`);
  for (let i = 1; i < percents.length; i++) {
    assert.ok(percents[i] >= percents[i - 1], `the percentage went back: ${percents}`);
  }
  assert.equal(percents.at(-1), 100);

  const again = await download('acme/slow-chat');
  assert.deepEqual(again.first, { status: 'already_downloaded' });
  assert.equal(again.first.job_id, undefined);
});

test('the model lists, load and unload', DEADLINE, async () => {
  await download('acme/fast-chat');
  const list = await lms(modeld.base, '/api/v1/models');
  assert.equal(list.status, 200, list.text);
  const entry = list.json.models.find((m) => m.key === 'acme/fast-chat');
  assert.ok(entry, list.text);
  assert.equal(entry.type, 'llm');
  assert.equal(entry.publisher, 'acme');
  assert.equal(entry.size_bytes, fast.size);
  assert.deepEqual(entry.loaded_instances, []);
  for (const key of ['display_name', 'quantization', 'params_string', 'max_context_length', 'format']) {
    assert.ok(key in entry, `${key} missing: ${list.text}`);
  }
  assert.deepEqual(Object.keys(entry.quantization).sort(), ['bits_per_weight', 'name']);

  const loaded = await lms(modeld.base, '/api/v1/models/load', {
    method: 'POST', body: { model: entry.key, context_length: 4096, echo_load_config: true },
  });
  assert.equal(loaded.status, 200, loaded.text);
  assert.equal(loaded.json.status, 'loaded');
  assert.equal(loaded.json.type, 'llm');
  assert.equal(typeof loaded.json.load_time_seconds, 'number');
  assert.equal(loaded.json.load_config.context_length, 4096);
  const instance = loaded.json.instance_id;

  const listed = (await lms(modeld.base, '/api/v1/models')).json.models.find((m) => m.key === entry.key);
  assert.deepEqual(listed.loaded_instances.map((i) => i.id), [instance]);
  const legacy = await lms(modeld.base, '/api/v0/models');
  assert.equal(legacy.json.object, 'list');
  assert.equal(legacy.json.data.find((m) => m.id === entry.key).state, 'loaded');

  const unloaded = await lms(modeld.base, '/api/v1/models/unload', {
    method: 'POST', body: { instance_id: instance },
  });
  assert.equal(unloaded.status, 200, unloaded.text);
  assert.deepEqual(unloaded.json, { instance_id: instance });
  const legacyAfter = await lms(modeld.base, '/api/v0/models');
  assert.equal(legacyAfter.json.data.find((m) => m.id === entry.key).state, 'not-loaded');
});

test('errors carry error.message with a 4xx status', DEADLINE, async () => {
  const unknownJob = await lms(modeld.base, '/api/v1/models/download/status/job_493c7c9ded');
  assert.equal(unknownJob.status, 404);
  assert.match(errorMessage(unknownJob.json), /job_493c7c9ded/);
  assert.equal(unknownJob.json.error.type, 'invalid_request_error');
  assert.equal(unknownJob.json.error.code, 'job_not_found');

  const noModel = await lms(modeld.base, '/api/v1/models/download', { method: 'POST', body: {} });
  assert.equal(noModel.status, 400);
  assert.match(errorMessage(noModel.json), /model/);
  const badJson = await lms(modeld.base, '/api/v1/models/load', { method: 'POST', body: '{"model":' });
  assert.equal(badJson.status, 400);
  assert.match(errorMessage(badJson.json), /JSON/);
  const notThere = await lms(modeld.base, '/api/v1/models/load', {
    method: 'POST', body: { model: 'acme/never-downloaded' },
  });
  assert.equal(notThere.status, 404, notThere.text);
  assert.equal(notThere.json.error.code, 'model_not_found');
  const notLoaded = await lms(modeld.base, '/api/v1/models/unload', {
    method: 'POST', body: { instance_id: 'acme/never-downloaded' },
  });
  assert.equal(notLoaded.status, 404, notLoaded.text);
});

test('a configured token is required; without one any bearer token passes', DEADLINE, async () => {
  for (const token of ['lm-studio', 'lmstudio', null]) {
    const r = await lms(modeld.base, '/api/v1/models', { token });
    assert.equal(r.status, 200, `token ${token}: ${r.text}`);
  }
  const locked = await startModeld({ args: ['--token', 's3cret', '--listen', '127.0.0.1:0=lmstudio'] });
  try {
    const lmsPort = Number(/listening on 127\.0\.0\.1:\d+, 127\.0\.0\.1:(\d+)/.exec(locked.stderr())[1]);
    const base = `http://127.0.0.1:${lmsPort}`;
    for (const token of ['lm-studio', null]) {
      const r = await lms(base, '/api/v1/models', { token });
      assert.equal(r.status, 401, r.text);
      assert.match(errorMessage(r.json), /\S/);
      assert.equal(r.json.error.code, 'unauthorized');
    }
    const ok = await lms(base, '/api/v1/models', { token: 's3cret' });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.json, { models: [] });
  } finally {
    await locked.close();
  }
});
