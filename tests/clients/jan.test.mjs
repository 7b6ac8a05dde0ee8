// modeld's Jan dialect (issue 14) driven the way Jan's app drives Jan's API server (0.4) and
// cortex (Jan 0.5): plain fetch with JSON bodies and an `Authorization: Bearer` header
// always sent (Jan sends one even when the server has no auth), and the `ws` package on
// cortex's /events socket. Against a real `modeld serve` (MODELD_BIN, else build/modeld)
// that downloads from a test origin on 127.0.0.1.
//
//   MODELD_BIN=build/modeld node --test tests/clients/jan.test.mjs
//
// What Jan's app does that the server must meet (../shared/dialects.md sections 3 and 7):
// - cortex's pull answers {message, task: {id, type, items}}; Jan takes task.id from every
//   /events frame as the model id, and cancels with DELETE /v1/models/pull {taskId: <id>}.
// - On every frame (DownloadStarted, DownloadUpdated, DownloadSuccess, DownloadError,
//   DownloadStopped) Jan reduces task.items: Σ downloadedBytes / Σ bytes is its percent.
// - GET /v1/models is read as `data.map(...)`; some builds call the un-prefixed routes.
// - POST /v1/models/start carries the model's settings plus `model` and `engine`.
// - Jan 0.4: GET /v1/models/download/:id, then GET /v1/download/getDownloadProgress/:id
//   whose percent is a 0..1 fraction and downloadState ends in "end".
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { openJsonSocket, request, startModeld, startOrigin } from './lib/modeld.mjs';

const MiB = 1024 * 1024;
const DEADLINE = { timeout: 120000 };
const FINAL = new Set(['DownloadSuccess', 'DownloadError', 'DownloadStopped']);
const TYPES = new Set(['DownloadStarted', 'DownloadUpdated', ...FINAL]);

let modeld;
let origin;

before(async () => {
  origin = await startOrigin();
  modeld = await startModeld();
});

after(async () => {
  await modeld?.close();
  await origin?.close();
});

// ---- helpers ----

let serial = 0;
function uniqueName(what) {
  return `jan-${what}-${process.pid}-${++serial}`;
}

// A call as Jan's app makes it: JSON, and a bearer token whatever the server wants.
function jan(pathname, { method = 'GET', body, token = 'jan-api-key', base = modeld.base } = {}) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  return request(`${base}${pathname}`, { method, body, headers });
}

// cortex's /events socket, as Jan opens it (it sends nothing).
function events(base = modeld.base) {
  return openJsonSocket(`${base.replace(/^http/, 'ws')}/events`);
}

// Jan's reduction of a frame's items: its percent.
function percentOf(task) {
  const total = task.items.reduce((acc, i) => acc + i.bytes, 0);
  const done = task.items.reduce((acc, i) => acc + i.downloadedBytes, 0);
  return total > 0 ? done / total : 0;
}

// Checks a frame as Jan reads it: a known type, the whole task, items always there.
function assertFrame(f, id) {
  const at = JSON.stringify(f);
  assert.ok(TYPES.has(f.type), `unknown frame type: ${at}`);
  assert.equal(f.task?.id, id, `task.id is not the model id: ${at}`);
  assert.equal(f.task.type, 'Model', at);
  assert.ok(Array.isArray(f.task.items), `no items: ${at}`);
  for (const i of f.task.items) {
    assert.equal(typeof i.id, 'string', at);
    assert.equal(typeof i.downloadUrl, 'string', at);
    assert.equal(typeof i.localPath, 'string', at);
    assert.ok(Number.isInteger(i.bytes) && i.bytes >= 0, at);
    assert.ok(Number.isInteger(i.downloadedBytes) && i.downloadedBytes >= 0, at);
  }
  const p = percentOf(f.task);
  assert.ok(p >= 0 && p <= 1, `percent out of 0..1: ${at}`);
}

// The frames of task |id| from |from| until a final one, checked.
async function untilFinal(sock, id) {
  const last = await sock.next((f) => f.task?.id === id && FINAL.has(f.type),
                               `a final frame of ${id}`, 60000);
  const mine = sock.frames.filter((f) => f.task?.id === id);
  mine.forEach((f) => assertFrame(f, id));
  return { last, frames: mine };
}

// The model |id| in GET {prefix}/models, read as Jan reads it (data.map).
async function listed(id, prefix = '/v1') {
  const r = await jan(`${prefix}/models`);
  assert.equal(r.status, 200, r.text);
  const ids = r.json.data.map((m) => m.id);
  return ids.includes(id) ? r.json.data[ids.indexOf(id)] : undefined;
}

// Jan's model.json for |file| (from origin.add).
function modelJson(id, file) {
  return {
    id, object: 'model', name: `Test ${id}`, version: '1.0', format: 'gguf',
    sources: [{ filename: `${id}.gguf`, url: file.url }],
    created: 0, description: 'a test model',
    settings: { ctx_len: 2048, prompt_template: '{prompt}' },
    parameters: { temperature: 0.7, stream: true },
    metadata: { author: 'Tester', tags: ['Test'], size: file.size },
    engine: 'llama-cpp',
  };
}

// ---- cortex (Jan 0.5) ----

test('a cortex pull is followed on /events to DownloadSuccess, and listed by its task id',
     DEADLINE, async () => {
  const id = uniqueName('pull');
  const file = origin.add(`${id}.gguf`, 2 * MiB);
  const sock = await events();
  try {
    const pulled = await jan('/v1/models/pull', { method: 'POST', body: { model: file.url, id, name: 'Pulled' } });
    assert.equal(pulled.status, 200, pulled.text);
    assert.equal(pulled.json.message, 'Model start downloading!');
    assert.equal(pulled.json.task.id, id);
    assert.deepEqual(pulled.json.task.items.map((i) => i.id), [`${id}.gguf`]);
    const { last, frames } = await untilFinal(sock, id);
    assert.equal(frames[0].type, 'DownloadStarted', JSON.stringify(frames));
    assert.equal(last.type, 'DownloadSuccess', JSON.stringify(frames));
    assert.equal(percentOf(last.task), 1);
    let high = 0;
    for (const f of frames) {
      const p = percentOf(f.task);
      if (f.type === 'DownloadUpdated' || f.type === 'DownloadSuccess') {
        assert.ok(p >= high, `percent went back: ${JSON.stringify(frames)}`);
        high = p;
      }
    }
    assert.equal(last.task.items[0].downloadedBytes, file.size);
    assert.ok(fs.existsSync(last.task.items[0].localPath), last.task.items[0].localPath);
  } finally {
    await sock.close();
  }
  const m = await listed(id);
  assert.ok(m, `${id} is not in data`);
  assert.equal(m.object, 'model');
  assert.equal(m.status, 'downloaded');
  assert.equal(m.metadata.size, file.size);
  assert.ok(m.settings.llama_model_path.endsWith(`${id}.gguf`), JSON.stringify(m));
  assert.ok(await listed(id, ''), 'un-prefixed, as some Jan builds call it');
});

test('a cortex pull cancelled with DELETE /v1/models/pull {taskId} ends in DownloadStopped',
     DEADLINE, async () => {
  const id = uniqueName('cancel');
  const file = origin.add(`${id}.gguf`, 4 * MiB);
  const sock = await events();
  try {
    const pulled = await jan('/v1/models/pull', { method: 'POST', body: { model: file.slowUrl, id } });
    assert.equal(pulled.status, 200, pulled.text);
    await sock.next((f) => f.task?.id === id && f.type === 'DownloadUpdated' &&
                           f.task.items.some((i) => i.downloadedBytes > 0),
                    'bytes arriving');
    const stopped = await jan('/v1/models/pull', { method: 'DELETE', body: { taskId: id } });
    assert.equal(stopped.status, 200, stopped.text);
    assert.deepEqual(stopped.json, { message: 'Download stopped successfully', taskId: id });
    const { last } = await untilFinal(sock, id);
    assert.equal(last.type, 'DownloadStopped');
    assert.equal(last.task.items.length, 1, 'items even on a stop');
  } finally {
    await sock.close();
  }
  const m = await listed(id);
  assert.ok(m === undefined || m.status !== 'downloaded', JSON.stringify(m));
  const again = await jan('/models/pull', { method: 'DELETE', body: { taskId: id } });
  assert.equal(again.status, 404, again.text);
  assert.equal(typeof again.json.message, 'string');
});

// ---- Jan 0.4 and model.json ----

test('a posted model.json downloads with GET /v1/models/download/:id and its progress ends in "end"',
     DEADLINE, async () => {
  const id = uniqueName('posted');
  const file = origin.add(`${id}-src.gguf`, 1 * MiB);
  const saved = await jan('/v1/models', { method: 'POST', body: modelJson(id, file) });
  assert.equal(saved.status, 200, saved.text);
  assert.equal(saved.json.id, id);
  assert.equal(saved.json.state, 'not_downloaded');
  assert.equal((await listed(id)).name, `Test ${id}`);
  const none = await jan(`/v1/download/getDownloadProgress/${id}`);
  assert.equal(none.status, 404);
  assert.equal(none.json.message, 'Download progress not found');

  const sock = await events();
  try {
    const started = await jan(`/v1/models/download/${id}`);
    assert.equal(started.status, 200, started.text);
    assert.equal(started.json.message, `Starting download ${id}`);
    assert.equal((await untilFinal(sock, id)).last.type, 'DownloadSuccess');
  } finally {
    await sock.close();
  }
  const state = await jan(`/v1/download/getDownloadProgress/${id}`);
  assert.equal(state.status, 200, state.text);
  assert.equal(state.json.modelId, id);
  assert.equal(state.json.downloadState, 'end');
  assert.equal(state.json.percent, 1);
  assert.deepEqual(state.json.size, { total: file.size, transferred: file.size });
  const m = await listed(id);
  assert.equal(m.status, 'downloaded');
  assert.equal(m.settings.prompt_template, '{prompt}', 'the model.json as given');
  assert.equal(m.engine, 'llama-cpp');
});

test('a model.json dropped into <data dir>/catalogs is listed and downloads without a restart',
     DEADLINE, async () => {
  const id = uniqueName('dropped');
  const file = origin.add(`${id}.gguf`, 1 * MiB);
  assert.equal(await listed(id), undefined);
  const dir = path.join(modeld.dataDir, 'catalogs', id);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson(id, file), null, 2));
  const m = await listed(id, '');
  assert.ok(m, 'listed un-prefixed');
  assert.equal(m.state, 'not_downloaded');
  const sock = await events();
  try {
    const started = await jan(`/models/download/${id}`);
    assert.equal(started.json.message, `Starting download ${id}`, started.text);
    assert.equal((await untilFinal(sock, id)).last.type, 'DownloadSuccess');
  } finally {
    await sock.close();
  }
  assert.equal((await listed(id)).state, 'downloaded');
});

test('start and stop load and unload; DELETE removes the files', DEADLINE, async () => {
  const id = uniqueName('run');
  const file = origin.add(`${id}.gguf`, 1 * MiB);
  const sock = await events();
  try {
    await jan('/v1/models/pull', { method: 'POST', body: { model: file.url, id } });
    assert.equal((await untilFinal(sock, id)).last.type, 'DownloadSuccess');
  } finally {
    await sock.close();
  }
  const started = await jan('/v1/models/start', {
    method: 'POST', body: { model: id, engine: 'llama-cpp', ctx_len: 2048, ngl: 100 },
  });
  assert.equal(started.status, 200, started.text);
  assert.equal(started.json.message, 'Started successfully!');
  assert.equal((await listed(id)).state, 'running');
  const resident = (await request(`${modeld.base}/loaded`)).json.models;
  assert.ok(resident.some((l) => l.name === id), JSON.stringify(resident));
  const stopped = await jan('/v1/models/stop', { method: 'POST', body: { model: id } });
  assert.equal(stopped.json.message, 'Stopped successfully!', stopped.text);
  assert.equal((await listed(id)).state, 'downloaded');
  // Jan 0.4's PUT form.
  assert.equal((await jan(`/v1/models/${id}/start`, { method: 'PUT', body: { ctx_len: 2048 } })).status, 200);
  assert.equal((await jan(`/v1/models/${id}/stop`, { method: 'PUT' })).status, 200);

  const deleted = await jan(`/v1/models/${id}`, { method: 'DELETE' });
  assert.equal(deleted.status, 200, deleted.text);
  assert.equal(deleted.json.deleted, true);
  assert.equal(await listed(id), undefined);
  assert.equal((await jan(`/v1/models/${id}`)).status, 404);
});

// ---- errors and auth ----

test('errors are {"message"} with the right status', DEADLINE, async () => {
  const unknown = await jan('/v1/models/download/no-such-model');
  assert.equal(unknown.status, 200, 'Jan answers 200 for an unknown model');
  assert.deepEqual(unknown.json, { message: 'Model not found' });
  for (const [method, p, body, status] of [
    ['GET', '/v1/models/no-such-model', undefined, 404],
    ['DELETE', '/v1/models/no-such-model', undefined, 404],
    ['POST', '/v1/models/pull', {}, 400],
    ['POST', '/v1/models/pull', { model: 'no-such-model' }, 404],
    ['DELETE', '/v1/models/pull', {}, 400],
    ['POST', '/v1/models/start', { model: 'no-such-model' }, 404],
    ['POST', '/v1/models', { id: 'x' }, 400],
    ['GET', '/v1/download/getDownloadProgress/no-such-model', undefined, 404],
  ]) {
    const r = await jan(p, { method, body });
    assert.equal(r.status, status, `${method} ${p}: ${r.text}`);
    assert.equal(typeof r.json?.message, 'string', `${method} ${p}: ${r.text}`);
  }
});

test('the bearer token Jan sends is ignored without a token and checked with one', DEADLINE, async () => {
  assert.equal((await jan('/v1/models', { token: 'anything-at-all' })).status, 200);
  assert.equal((await jan('/v1/models', { token: '' })).status, 200);
  const guarded = await startModeld({ args: ['--token', 'tok-123'] });
  try {
    assert.equal((await jan('/v1/models', { token: '', base: guarded.base })).status, 401);
    assert.equal((await jan('/v1/models', { token: 'wrong', base: guarded.base })).status, 401);
    const ok = await jan('/v1/models', { token: 'tok-123', base: guarded.base });
    assert.equal(ok.status, 200, ok.text);
    assert.ok(Array.isArray(ok.json.data));
    const sock = await openJsonSocket(`${guarded.base.replace(/^http/, 'ws')}/events?token=tok-123`);
    await sock.close();
  } finally {
    await guarded.close();
  }
});
