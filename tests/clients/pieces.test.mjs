// modeld's Pieces OS dialect (issue 13) driven by the official client,
// @pieces.app/pieces-os-client 4.1.0, exactly as applications use it: a Configuration with
// basePath, then ModelApi, ModelsApi and WellKnownApi. Against a real `modeld serve`
// (MODELD_BIN, else build/modeld) that downloads from a test origin on 127.0.0.1, with the
// progress WebSocket watched through `ws` (as the Pieces plugins watch it) and memory
// residency checked through modeld's generic GET /loaded.
//
//   MODELD_BIN=build/modeld node --test tests/clients/pieces.test.mjs
//
// What the client's dist/ does that the server must meet (read from 4.1.0):
// - Method names: ModelApi has modelsSpecificModelSnapshot (GET /model/{model}),
//   modelSpecificModelDownload, ...DownloadCancel, ...DownloadProgress (a plain GET parsed as
//   one JSON object: the client never opens the WebSocket), ...Load, ...Unload, modelUpdate;
//   ModelsApi has modelsSnapshot, modelsCreateNewModel, modelsDeleteSpecificModel,
//   modelsDeleteSpecificModelCache and unloadModels.
// - Every 2xx of a method returning a Model is parsed with response.json(), whatever its
//   Content-Type; modelsSnapshot throws without an `iterable` array.
// - modelsDeleteSpecificModelCache sends Content-Type: application/json with an EMPTY body
//   and parses the answer as ModelDeleteCacheOutput {model: {id}}, not as a Model.
// - modelsDeleteSpecificModel and unloadModels ignore the answer's body.
// - WellKnownApi returns text unless the answer's Content-Type is JSON.
// - {model} is encodeURIComponent(String(model)); basePath is used as given (a trailing "/"
//   gives "//model/...").
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';

import * as Pieces from '@pieces.app/pieces-os-client';

import { openJsonSocket, request, startModeld, startOrigin } from './lib/modeld.mjs';

const MiB = 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const FINAL = new Set(['COMPLETED', 'FAILED', 'CANCELED']);
const Status = Pieces.ModelDownloadProgressStatusEnum;
// Every test's deadline: the client's own calls have none (fetch waits for a hung answer).
const DEADLINE = { timeout: 120000 };

// A test with DEADLINE. The client's ResponseError says only "Response returned an error
// code": a test that meets one unexpectedly fails with the URL, the status and the body.
function clientTest(name, body) {
  test(name, DEADLINE, async () => {
    try {
      await body();
    } catch (e) {
      if (!(e instanceof Pieces.ResponseError) || e.response.bodyUsed) throw e;
      const text = await e.response.text().catch(() => '(unreadable body)');
      throw new Error(`unexpected ${e.response.status} from ${e.response.url}: ${text}`,
                      { cause: e });
    }
  });
}

let modeld;  // the server most tests share (the restart test has its own)
let origin;  // the test origin both download from
let api;     // the official client's APIs against |modeld|

before(async () => {
  origin = await startOrigin();
  modeld = await startModeld();
  api = clients(modeld.base);
});

after(async () => {
  await modeld?.close();
  await origin?.close();
});

// ---- helpers ----

// The client's three APIs over one Configuration, as the Pieces docs set them up.
function clients(basePath, extra = {}) {
  const config = new Pieces.Configuration({ basePath, ...extra });
  return {
    model: new Pieces.ModelApi(config),
    models: new Pieces.ModelsApi(config),
    wellKnown: new Pieces.WellKnownApi(config),
  };
}

// A model name no other test uses (modeld names: [A-Za-z0-9._-]).
let serial = 0;
function uniqueName(what) {
  return `pieces-${what}-${process.pid}-${++serial}`;
}

// Registers NAME.bin on the origin and, through modelsCreateNewModel, a custom model NAME:v1
// whose SeededModel.unique is the file's URL (the throttled one with |slow|). Resolves
// {model (the Model answered), file, name, ref}.
async function createCustom(what, { size = 1 * MiB, slow = false, apis = api } = {}) {
  const name = uniqueName(what);
  const file = origin.add(`${name}.bin`, size);
  const seededModel = {
    version: 'v1',
    created: { value: new Date() },
    name,
    description: `${what}: ${size} bytes from the test origin`,
    cloud: false,
    type: Pieces.ModelTypeEnum.Balanced,
    usage: Pieces.ModelUsageEnum.CodeConversation,
    unique: slow ? file.slowUrl : file.url,
  };
  const model = await apis.models.modelsCreateNewModel({ seededModel });
  return { model, file, name, ref: `${name}:v1` };
}

// Checks that |m| (a Model as the client parsed it) carries what every Pieces client needs:
// the required fields with their JSON types, the exact enum spellings, a valid ISO-8601
// `created`, the booleans modeld fills, `unique` = "name:version", and `bytes` (when sent)
// as a ByteDescriptor.
function assertModel(m, where) {
  const at = `${where}: ${JSON.stringify(m)}`;
  assert.ok(m && typeof m === 'object', `${where}: not an object`);
  assert.match(m.id, UUID, `${at}: id is not a UUID`);
  assert.equal(typeof m.version, 'string', `${at}: version`);
  assert.ok(m.version.length > 0, `${at}: empty version`);
  assert.equal(typeof m.name, 'string', `${at}: name`);
  assert.ok(m.name.length > 0, `${at}: empty name`);
  assert.ok(m.created?.value instanceof Date && !Number.isNaN(m.created.value.getTime()),
            `${at}: created.value is not an ISO-8601 date`);
  assert.equal(m.cloud, false, `${at}: cloud`);
  assert.ok(Object.values(Pieces.ModelTypeEnum).includes(m.type), `${at}: type ${m.type}`);
  assert.ok(Object.values(Pieces.ModelUsageEnum).includes(m.usage), `${at}: usage ${m.usage}`);
  for (const key of ['downloaded', 'downloading', 'loaded', 'custom']) {
    assert.equal(typeof m[key], 'boolean', `${at}: ${key} is not a boolean`);
  }
  assert.equal(m.unique, `${m.name}:${m.version}`, `${at}: unique is not "name:version"`);
  if (m.bytes !== undefined) {
    assert.ok(Number.isInteger(m.bytes.value) && m.bytes.value >= 0, `${at}: bytes.value`);
    assert.equal(typeof m.bytes.readable, 'string', `${at}: bytes.readable`);
    assert.ok(m.bytes.readable.length > 0, `${at}: empty bytes.readable`);
  }
  if (m.foundation !== undefined) {
    assert.ok(Object.values(Pieces.ModelFoundationEnum).includes(m.foundation),
              `${at}: foundation ${m.foundation}`);
  }
  if (m.provider !== undefined) {
    assert.ok(Object.values(Pieces.ExternalMLProviderEnum).includes(m.provider),
              `${at}: provider ${m.provider}`);
  }
  if (m.schema !== undefined) {
    assert.equal(typeof m.schema.migration, 'number', `${at}: schema.migration`);
    assert.ok(Object.values(Pieces.EmbeddedModelSchemaSemanticVersionEnum)
                .includes(m.schema.semantic), `${at}: schema.semantic`);
  }
  if (m.description !== undefined) assert.equal(typeof m.description, 'string', `${at}: description`);
}

// Checks one ModelDownloadProgress (raw JSON from a frame or parsed by the client): an
// object with a status of the enum and, when present, a percentage in 0..100.
function assertProgress(p, where) {
  const at = `${where}: ${JSON.stringify(p)}`;
  assert.ok(p && typeof p === 'object' && !Array.isArray(p), `${at}: not a JSON object`);
  assert.ok(Object.values(Status).includes(p.status), `${at}: status`);
  if (p.percentage !== undefined && p.percentage !== null) {
    assert.equal(typeof p.percentage, 'number', `${at}: percentage`);
    assert.ok(p.percentage >= 0 && p.percentage <= 100, `${at}: percentage out of 0..100`);
  }
}

// The progress WebSocket of |model| (an id or a "name:version"), as the Pieces plugins open
// it. Frames are raw JSON; each is checked as a ModelDownloadProgress when it is read.
function progressSocket(model, base = modeld.base) {
  const url = `${base.replace(/^http/, 'ws')}/model/${encodeURIComponent(model)}/download/progress`;
  return openJsonSocket(url);
}

// The frame the server sends right after the upgrade: the model's current state.
async function currentState(sock) {
  const f = await sock.next(() => true, 'the current state, sent right after the upgrade', 10000);
  assertProgress(f, 'first frame');
  return Pieces.ModelDownloadProgressFromJSON(f);
}

// The download's final frame (COMPLETED, FAILED or CANCELED) on |sock|.
async function finalFrame(sock, ms = 60000) {
  const f = await sock.next((x) => FINAL.has(x?.status), 'a final COMPLETED, FAILED or CANCELED frame', ms);
  return Pieces.ModelDownloadProgressFromJSON(f);
}

// Checks the frames of one download, sock.frames[from..] once the socket is closed:
// every frame a ModelDownloadProgress; INITIALIZED before any IN-PROGRESS (when the socket
// was open before the start); at least one IN-PROGRESS when |needProgress|; percentages of
// INITIALIZED, IN-PROGRESS and COMPLETED frames never going back; exactly one final frame,
// the last one, with status |final| (and percentage 100 for COMPLETED).
function assertDownloadFrames(frames, from, final, { needInitialized = true, needProgress = false,
                                                     where = 'progress socket' } = {}) {
  const seg = frames.slice(from);
  const all = JSON.stringify(seg);
  seg.forEach((f, i) => assertProgress(f, `${where} frame ${from + i}`));
  const parsed = seg.map(Pieces.ModelDownloadProgressFromJSON);
  const finals = parsed.filter((f) => FINAL.has(f.status));
  assert.equal(finals.length, 1, `${where}: not exactly one final frame: ${all}`);
  assert.equal(parsed.at(-1).status, final, `${where}: the last frame is not ${final}: ${all}`);
  if (final === Status.Completed) {
    assert.equal(parsed.at(-1).percentage, 100, `${where}: COMPLETED without percentage 100: ${all}`);
  }
  const firstInit = parsed.findIndex((f) => f.status === Status.Initialized);
  const firstProgress = parsed.findIndex((f) => f.status === Status.InProgress);
  if (needInitialized) {
    assert.ok(firstInit >= 0, `${where}: no INITIALIZED frame: ${all}`);
    assert.ok(firstProgress < 0 || firstInit < firstProgress,
              `${where}: IN-PROGRESS before INITIALIZED: ${all}`);
  }
  if (needProgress) assert.ok(firstProgress >= 0, `${where}: no IN-PROGRESS frame: ${all}`);
  let last = -1;
  for (const f of parsed) {
    if (![Status.Initialized, Status.InProgress, Status.Completed].includes(f.status)) continue;
    if (typeof f.percentage !== 'number') continue;
    assert.ok(f.percentage >= last, `${where}: percentage went back (${last} -> ${f.percentage}): ${all}`);
    last = f.percentage;
  }
}

// Downloads |id| through the client and waits on its progress WebSocket (opened first) for
// the final frame; resolves {answer (the Model modelSpecificModelDownload answered), final}.
async function downloadAndWait(id, apis = api, base = modeld.base) {
  const sock = await progressSocket(id, base);
  try {
    await currentState(sock);
    const answer = await apis.model.modelSpecificModelDownload({ model: id });
    const final = await finalFrame(sock);
    assert.equal(final.status, Status.Completed, `download of ${id}: ${JSON.stringify(sock.frames)}`);
    return { answer, final };
  } finally {
    await sock.close();
  }
}

// Awaits |promise|, which must reject with the client's ResponseError whose status passes
// |ok| and whose body is a JSON object; resolves {status, body}.
async function responseError(promise, ok, what) {
  let value;
  let error;
  try {
    value = await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error, `${what}: answered 2xx (${JSON.stringify(value)}) instead of an error`);
  assert.ok(error instanceof Pieces.ResponseError, `${what}: not a ResponseError: ${error?.stack}`);
  const status = error.response.status;
  const text = await error.response.text();
  assert.ok(ok(status), `${what}: unexpected status ${status} (${text})`);
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`${what}: the ${status} body is not JSON: ${JSON.stringify(text)}`);
  }
  assert.ok(body && typeof body === 'object' && !Array.isArray(body),
            `${what}: the ${status} body is not a JSON object: ${text}`);
  return { status, body };
}
const is4xx = (s) => s >= 400 && s < 500;

// modeld's generic GET /loaded: {models: [{ref, bytes, resident_bytes, ...}]}.
async function loaded(base = modeld.base) {
  const r = await request(`${base}/loaded`);
  assert.equal(r.status, 200, `GET /loaded: ${r.text}`);
  return r.json.models;
}

// The installed versions modeld's generic GET /models lists as available, by ref.
async function installedRefs(base = modeld.base) {
  const r = await request(`${base}/models`);
  assert.equal(r.status, 200, `GET /models: ${r.text}`);
  assert.ok(Array.isArray(r.json?.models), `GET /models has no "models" list: ${r.text}`);
  return new Set(r.json.models.filter((m) => m.status === 'available').map((m) => m.ref));
}

// ---- tests ----

// GET /models (modelsSnapshot) lists every model modeld knows: each entry of the built-in
// catalog and a model installed through the generic API, each a complete Pieces Model with
// a distinct UUID; a catalog entry is neither custom, downloaded nor downloading.
clientTest('modelsSnapshot lists catalog and installed models as complete Pieces Models', async () => {
  const name = uniqueName('generic');
  const file = origin.add(`${name}.bin`, 256 * 1024);
  const pulled = await request(`${modeld.base}/model-download?wait=true`, {
    method: 'POST',
    body: { model_name: name, version: 'v1', download_url: file.url, checksum: `sha256:${file.sha256}` },
  });
  assert.equal(pulled.status, 200, `generic pull: ${pulled.text}`);

  const snapshot = await api.models.modelsSnapshot();
  assert.ok(Array.isArray(snapshot.iterable), 'modelsSnapshot has no iterable');
  snapshot.iterable.forEach((m, i) => assertModel(m, `iterable[${i}]`));
  const ids = snapshot.iterable.map((m) => m.id);
  assert.equal(new Set(ids).size, ids.length, `ids are not distinct: ${ids}`);
  const uniques = snapshot.iterable.map((m) => m.unique);
  assert.equal(new Set(uniques).size, uniques.length, `a model is listed twice: ${uniques}`);

  const catalog = await request(`${modeld.base}/catalog`);
  assert.equal(catalog.status, 200, catalog.text);
  const names = new Set(snapshot.iterable.map((m) => m.name));
  for (const entry of catalog.json.models) {
    assert.ok(names.has(entry.name), `catalog entry ${entry.name} is not in modelsSnapshot`);
  }
  const whisper = snapshot.iterable.find((m) => m.name === 'whisper-tiny');
  assert.ok(whisper, 'the catalog entry whisper-tiny is not listed');
  assert.equal(whisper.custom, false, 'a catalog entry is not custom');
  assert.equal(whisper.downloaded, false, 'whisper-tiny is not installed here');
  assert.equal(whisper.downloading, false, 'nothing downloads whisper-tiny here');
  assert.equal(whisper.loaded, false, 'whisper-tiny is not loaded');

  const installed = snapshot.iterable.find((m) => m.unique === `${name}:v1`);
  assert.ok(installed, `the installed ${name}:v1 is not listed`);
  assert.equal(installed.downloaded, true, 'an installed model is downloaded');
  assert.equal(installed.downloading, false, 'an installed model is not downloading');
  assert.equal(installed.bytes?.value, file.size, 'bytes.value is the installed size');
});

// POST /models/create (modelsCreateNewModel) with a SeededModel whose unique is a URL
// registers a custom model: its Model has a UUID id, custom true, not downloaded, and the
// same Model is then in modelsSnapshot and answered by modelsSpecificModelSnapshot.
clientTest('modelsCreateNewModel registers a custom model with a download URL', async () => {
  const { model, name } = await createCustom('create');
  assertModel(model, 'modelsCreateNewModel');
  assert.equal(model.name, name);
  assert.equal(model.version, 'v1');
  assert.equal(model.unique, `${name}:v1`);
  assert.equal(model.custom, true, 'a created model is custom');
  assert.equal(model.downloaded, false, 'nothing is downloaded yet');
  assert.equal(model.downloading, false, 'nothing downloads yet');
  assert.equal(model.loaded, false);

  const listed = (await api.models.modelsSnapshot()).iterable.filter((m) => m.id === model.id);
  assert.equal(listed.length, 1, `the created model is not in modelsSnapshot once`);
  assert.equal(listed[0].unique, model.unique);
  assert.equal(listed[0].custom, true);

  const again = await api.model.modelsSpecificModelSnapshot({ model: model.id });
  assertModel(again, 'modelsSpecificModelSnapshot');
  assert.equal(again.id, model.id);
  assert.equal(again.name, name);
  assert.equal(again.custom, true);
});

// The progress WebSocket, opened before the download starts: the current state at once,
// then INITIALIZED, IN-PROGRESS frames whose percentage never goes back, and one COMPLETED
// (100). A second socket opened mid-way gets the current (running) state at once and the
// same end. Mid-way, modelsSnapshot says downloading and the plain GET on the progress path
// (modelSpecificModelDownloadProgress) answers one running ModelDownloadProgress; at the end
// the model is downloaded with its size, and the plain GET says COMPLETED.
clientTest('a download sends INITIALIZED, IN-PROGRESS and COMPLETED on the progress WebSocket', async () => {
  const { model, file } = await createCustom('progress', { size: 2 * MiB, slow: true });
  const first = await progressSocket(model.id);
  const initial = await currentState(first);
  assert.ok(![Status.Completed, Status.InProgress].includes(initial.status),
            `a model never downloaded is ${initial.status}`);

  const answer = await api.model.modelSpecificModelDownload({ model: model.id });
  assertModel(answer, 'modelSpecificModelDownload');
  assert.equal(answer.id, model.id);
  assert.ok(answer.downloading || answer.downloaded, `the download answer: ${JSON.stringify(answer)}`);

  await first.next((f) => f?.status === Status.InProgress, 'an IN-PROGRESS frame');
  const second = await progressSocket(model.id);
  const joined = await currentState(second);
  assert.ok([Status.Initialized, Status.InProgress, Status.Completed].includes(joined.status),
            `a socket opened mid-download starts with ${joined.status}`);
  const running = await api.model.modelsSpecificModelSnapshot({ model: model.id });
  const polled = await api.model.modelSpecificModelDownloadProgress({ model: model.id });
  assertProgress(polled, 'modelSpecificModelDownloadProgress mid-download');

  const final = await finalFrame(first);
  assert.equal(final.status, Status.Completed, JSON.stringify(first.frames));
  await finalFrame(second);
  if (!running.downloaded) {  // unless the throttled 2 MiB went through before the snapshot
    assert.equal(running.downloading, true, `mid-download snapshot: ${JSON.stringify(running)}`);
    assert.ok([Status.Initialized, Status.InProgress].includes(polled.status),
              `the plain GET mid-download said ${polled.status}`);
  }

  const done = await api.model.modelsSpecificModelSnapshot({ model: model.id });
  assertModel(done, 'snapshot after COMPLETED');
  assert.equal(done.downloaded, true, 'downloaded after COMPLETED');
  assert.equal(done.downloading, false, 'not downloading after COMPLETED');
  assert.equal(done.bytes?.value, file.size, 'bytes.value is the file size');
  const finished = await api.model.modelSpecificModelDownloadProgress({ model: model.id });
  assertProgress(finished, 'modelSpecificModelDownloadProgress after COMPLETED');
  assert.equal(finished.status, Status.Completed);
  assert.equal(finished.percentage, 100);
  assert.ok((await installedRefs()).has(`${model.name}:v1`), 'the generic API lists it installed');

  await first.close();
  await second.close();
  assertDownloadFrames(first.frames, 1, Status.Completed, { needProgress: true, where: 'first socket' });
  assertDownloadFrames(second.frames, 0, Status.Completed,
                       { needInitialized: false, where: 'second socket' });
});

// A second modelSpecificModelDownload while the first runs joins it (no error, one job:
// one INITIALIZED, one COMPLETED); once installed, a download answers the Model at once,
// downloaded and not downloading, without fetching again, and a new socket's current state
// is COMPLETED.
clientTest('a second download joins the running one; an installed model answers at once', async () => {
  const { model, file } = await createCustom('join', { size: 4 * MiB, slow: true });
  const sock = await progressSocket(model.id);
  await currentState(sock);
  const one = await api.model.modelSpecificModelDownload({ model: model.id });
  const two = await api.model.modelSpecificModelDownload({ model: model.id });
  for (const [i, m] of [one, two].entries()) {
    assertModel(m, `download ${i + 1}`);
    assert.equal(m.id, model.id);
    assert.ok(m.downloading || m.downloaded, `download ${i + 1}: ${JSON.stringify(m)}`);
  }
  origin.release(file.name);  // both answers are in: the rest may go at full speed
  assert.equal((await finalFrame(sock)).status, Status.Completed, JSON.stringify(sock.frames));
  await sock.close();
  assertDownloadFrames(sock.frames, 1, Status.Completed);
  const inits = sock.frames.slice(1).filter((f) => f.status === Status.Initialized).length;
  assert.equal(inits, 1, `INITIALIZED ${inits} times (two jobs?): ${JSON.stringify(sock.frames)}`);

  const gets = origin.gets(file.name);
  const three = await api.model.modelSpecificModelDownload({ model: model.id });
  assertModel(three, 'download of an installed model');
  assert.equal(three.id, model.id);
  assert.equal(three.downloaded, true, 'an installed model is downloaded');
  assert.equal(three.downloading, false, 'an installed model is not downloaded again');
  const later = await progressSocket(model.id);
  const state = await currentState(later);
  await later.close();
  assert.equal(state.status, Status.Completed, 'an installed model\'s current state');
  assert.equal(origin.gets(file.name), gets, 'the installed model was fetched again');
});

// modelSpecificModelDownloadCancel during a (throttled) download answers the Model, no longer
// downloading nor downloaded, and the socket's one final frame is CANCELED. Downloading
// again afterwards works (a new INITIALIZED ... COMPLETED on the same socket).
clientTest('cancelling a running download answers downloading false and sends CANCELED', async () => {
  const { model, file } = await createCustom('cancel', { size: 8 * MiB, slow: true });
  const sock = await progressSocket(model.id);
  await currentState(sock);
  await api.model.modelSpecificModelDownload({ model: model.id });
  await sock.next((f) => f?.status === Status.InProgress, 'an IN-PROGRESS frame before cancelling');
  const running = await api.model.modelsSpecificModelSnapshot({ model: model.id });
  assert.equal(running.downloading, true, `snapshot of a running download: ${JSON.stringify(running)}`);

  const cancelled = await api.model.modelSpecificModelDownloadCancel({ model: model.id });
  assertModel(cancelled, 'modelSpecificModelDownloadCancel');
  assert.equal(cancelled.id, model.id);
  assert.equal(cancelled.downloading, false, 'still downloading after cancel');
  assert.equal(cancelled.downloaded, false, 'a cancelled download is not downloaded');
  const final = await finalFrame(sock);
  assert.equal(final.status, Status.Canceled, JSON.stringify(sock.frames));
  const afterCancel = sock.frames.findIndex((f) => f.status === Status.Canceled) + 1;
  const snap = await api.model.modelsSpecificModelSnapshot({ model: model.id });
  assert.equal(snap.downloading, false);
  assert.equal(snap.downloaded, false);
  const polled = await api.model.modelSpecificModelDownloadProgress({ model: model.id });
  assertProgress(polled, 'modelSpecificModelDownloadProgress after cancel');
  assert.ok(![Status.InProgress, Status.Completed].includes(polled.status),
            `after cancel the plain GET says ${polled.status}`);

  // The socket stays open across downloads (the Pieces UIs open one per model and keep it).
  origin.release(file.name);
  await api.model.modelSpecificModelDownload({ model: model.id });
  assert.equal((await finalFrame(sock)).status, Status.Completed, JSON.stringify(sock.frames));
  await sock.close();
  assertDownloadFrames(sock.frames.slice(0, afterCancel), 1, Status.Canceled,
                       { where: 'cancelled download' });
  assertDownloadFrames(sock.frames, afterCancel, Status.Completed, { where: 'download after the cancel' });
  assert.equal((await api.model.modelsSpecificModelSnapshot({ model: model.id })).downloaded, true);
});

// modelSpecificModelLoad holds the model in memory (Model.loaded true; modeld's GET /loaded
// lists it with resident_bytes = bytes = the file size); modelSpecificModelUnload releases
// it (loaded false; GET /loaded lists nothing).
clientTest('load and unload: loaded true with the file resident, then loaded false', async () => {
  const { model, file, ref } = await createCustom('load', { size: 4 * MiB });
  await downloadAndWait(model.id);

  const up = await api.model.modelSpecificModelLoad({ model: model.id });
  assertModel(up, 'modelSpecificModelLoad');
  assert.equal(up.id, model.id);
  assert.equal(up.loaded, true, 'loaded after load');
  const held = (await loaded()).filter((m) => m.ref === ref);
  assert.equal(held.length, 1, `GET /loaded does not list ${ref}: ${JSON.stringify(await loaded())}`);
  assert.equal(held[0].bytes, file.size, 'GET /loaded bytes');
  assert.equal(held[0].resident_bytes, file.size, 'GET /loaded resident_bytes');
  assert.equal((await api.model.modelsSpecificModelSnapshot({ model: model.id })).loaded, true);
  const listed = (await api.models.modelsSnapshot()).iterable.find((m) => m.id === model.id);
  assert.equal(listed?.loaded, true, 'modelsSnapshot says loaded');

  const down = await api.model.modelSpecificModelUnload({ model: model.id });
  assertModel(down, 'modelSpecificModelUnload');
  assert.equal(down.id, model.id);
  assert.equal(down.loaded, false, 'loaded after unload');
  assert.deepEqual(await loaded(), [], 'GET /loaded after unload');
  assert.equal((await api.model.modelsSpecificModelSnapshot({ model: model.id })).loaded, false);
});

// POST /models/unload (unloadModels) unloads every loaded model.
clientTest('unloadModels unloads every loaded model', async () => {
  const a = await createCustom('unload-all-a');
  const b = await createCustom('unload-all-b');
  await downloadAndWait(a.model.id);
  await downloadAndWait(b.model.id);
  await api.model.modelSpecificModelLoad({ model: a.model.id });
  await api.model.modelSpecificModelLoad({ model: b.model.id });
  const refs = (await loaded()).map((m) => m.ref).sort();
  assert.deepEqual(refs, [a.ref, b.ref].sort(), 'both are loaded');

  await api.models.unloadModels();
  assert.deepEqual(await loaded(), [], 'GET /loaded after unloadModels');
  for (const { model } of [a, b]) {
    assert.equal((await api.model.modelsSpecificModelSnapshot({ model: model.id })).loaded, false);
  }
});

// An unknown id (a random UUID): the snapshot is a 410 with a JSON body (the client throws
// ResponseError); download, cancel, load, unload, delete and delete/cache are 4xx with a
// JSON body.
clientTest('an unknown id is a 410 for the snapshot and a 4xx elsewhere, with JSON bodies', async () => {
  const unknown = crypto.randomUUID();
  const snap = await responseError(api.model.modelsSpecificModelSnapshot({ model: unknown }),
                                   (s) => s === 410, 'snapshot of an unknown id');
  assert.equal(snap.status, 410);
  const calls = {
    modelSpecificModelDownload: () => api.model.modelSpecificModelDownload({ model: unknown }),
    modelSpecificModelDownloadCancel: () => api.model.modelSpecificModelDownloadCancel({ model: unknown }),
    modelSpecificModelLoad: () => api.model.modelSpecificModelLoad({ model: unknown }),
    modelSpecificModelUnload: () => api.model.modelSpecificModelUnload({ model: unknown }),
    modelsDeleteSpecificModel: () => api.models.modelsDeleteSpecificModel({ model: unknown }),
    modelsDeleteSpecificModelCache: () => api.models.modelsDeleteSpecificModelCache({ model: unknown }),
  };
  for (const [method, call] of Object.entries(calls)) {
    await responseError(call(), is4xx, `${method} of an unknown id`);
  }
});

// POST /model/update (modelUpdate) with a custom model's Model (its description changed)
// answers the updated Model and keeps it; with a catalog entry's Model it is a 4xx and the
// entry is unchanged.
clientTest('modelUpdate changes a custom model and refuses a catalog entry', async () => {
  const { model } = await createCustom('update');
  const current = await api.model.modelsSpecificModelSnapshot({ model: model.id });
  const wanted = 'described again by modelUpdate';
  const updated = await api.model.modelUpdate({ model: { ...current, description: wanted } });
  assertModel(updated, 'modelUpdate');
  assert.equal(updated.id, model.id);
  assert.equal(updated.description, wanted);
  assert.equal(updated.custom, true);
  assert.equal((await api.model.modelsSpecificModelSnapshot({ model: model.id })).description, wanted);
  const listed = (await api.models.modelsSnapshot()).iterable.find((m) => m.id === model.id);
  assert.equal(listed?.description, wanted, 'modelsSnapshot shows the update');

  const whisper = (await api.models.modelsSnapshot()).iterable.find((m) => m.name === 'whisper-tiny');
  assert.ok(whisper, 'the catalog entry whisper-tiny is listed');
  await responseError(api.model.modelUpdate({ model: { ...whisper, description: 'not yours' } }),
                      is4xx, 'modelUpdate of a catalog entry');
  const still = await api.model.modelsSpecificModelSnapshot({ model: whisper.id });
  assert.equal(still.description, whisper.description, 'the catalog entry changed');
});

// POST /models/{id}/delete/cache (modelsDeleteSpecificModelCache) removes the downloaded
// files and keeps the entry: the client parses {model: {id}} (ModelDeleteCacheOutput), the
// same id is then not downloaded, and a new download fetches it again.
clientTest('modelsDeleteSpecificModelCache removes the files and keeps the entry', async () => {
  const { model, ref } = await createCustom('delete-cache');
  await downloadAndWait(model.id);
  assert.ok((await installedRefs()).has(ref), 'installed before delete/cache');

  const out = await api.models.modelsDeleteSpecificModelCache({ model: model.id });
  assert.equal(out?.model?.id, model.id, `ModelDeleteCacheOutput: ${JSON.stringify(out)}`);
  const kept = await api.model.modelsSpecificModelSnapshot({ model: model.id });
  assertModel(kept, 'snapshot after delete/cache');
  assert.equal(kept.id, model.id);
  assert.equal(kept.downloaded, false, 'downloaded after delete/cache');
  assert.equal(kept.custom, true);
  assert.ok((await api.models.modelsSnapshot()).iterable.some((m) => m.id === model.id),
            'the entry left modelsSnapshot');
  assert.ok(!(await installedRefs()).has(ref), 'the generic API still lists the files installed');

  await downloadAndWait(model.id);
  assert.equal((await api.model.modelsSpecificModelSnapshot({ model: model.id })).downloaded, true);
});

// POST /models/{id}/delete (modelsDeleteSpecificModel) removes a custom model: its snapshot
// is then a 410, it leaves modelsSnapshot, and its files are no longer installed.
clientTest('modelsDeleteSpecificModel removes the entry', async () => {
  const { model, ref } = await createCustom('delete');
  await downloadAndWait(model.id);
  await api.models.modelsDeleteSpecificModel({ model: model.id });
  await responseError(api.model.modelsSpecificModelSnapshot({ model: model.id }),
                      (s) => s === 410, 'snapshot of a deleted model');
  assert.ok(!(await api.models.modelsSnapshot()).iterable.some((m) => m.id === model.id),
            'a deleted model is still in modelsSnapshot');
  assert.ok(!(await installedRefs()).has(ref), 'a deleted model is still installed');
});

// The {model} path parameter also takes the modeld reference "name:version" (the client
// sends it encodeURIComponent'd, "name%3Av1"): snapshot, download, the plain progress GET,
// the progress WebSocket, load and unload address the same model as its id.
clientTest('the {model} parameter also accepts "name:version"', async () => {
  const { model, ref } = await createCustom('by-ref');
  const snap = await api.model.modelsSpecificModelSnapshot({ model: ref });
  assert.equal(snap.id, model.id, 'the snapshot by name:version is the same model');

  const sock = await progressSocket(ref);
  await currentState(sock);
  const answer = await api.model.modelSpecificModelDownload({ model: ref });
  assert.equal(answer.id, model.id);
  assert.equal((await finalFrame(sock)).status, Status.Completed, JSON.stringify(sock.frames));
  await sock.close();
  const polled = await api.model.modelSpecificModelDownloadProgress({ model: ref });
  assert.equal(polled.status, Status.Completed);

  assert.equal((await api.model.modelSpecificModelLoad({ model: ref })).loaded, true);
  assert.equal((await api.model.modelSpecificModelUnload({ model: ref })).loaded, false);

  const whisper = (await api.models.modelsSnapshot()).iterable.find((m) => m.name === 'whisper-tiny');
  const byRef = await api.model.modelsSpecificModelSnapshot({ model: whisper.unique });
  assert.equal(byRef.id, whisper.id, 'a catalog entry by name:version');
});

// A Configuration whose basePath ends in "/" makes the client request "//models",
// "//model/ID", ...: modeld answers them as the single-slash paths. An apiKey makes it send
// X-Application-ID, which modeld accepts and ignores.
clientTest('a basePath ending in "/" and an apiKey (X-Application-ID) work', async () => {
  const slash = clients(`${modeld.base}/`);
  const listed = await slash.models.modelsSnapshot();
  assert.ok(Array.isArray(listed.iterable) && listed.iterable.length > 0, 'GET //models');
  const { model } = await createCustom('double-slash', { apis: slash });
  assertModel(model, 'POST //models/create');
  assert.equal((await slash.model.modelsSpecificModelSnapshot({ model: model.id })).id, model.id);
  await downloadAndWait(model.id, slash);
  assert.equal((await slash.model.modelsSpecificModelSnapshot({ model: model.id })).downloaded, true);
  await slash.wellKnown.getWellKnownHealth();  // GET //.well-known/health answers 2xx

  const keyed = clients(modeld.base, { apiKey: 'modeld-pieces-test' });
  assert.ok(Array.isArray((await keyed.models.modelsSnapshot()).iterable), 'with X-Application-ID');
  assert.equal((await keyed.model.modelsSpecificModelSnapshot({ model: model.id })).id, model.id);
});

// WellKnownApi: the client returns the body as text unless the Content-Type is JSON (then
// parsed). Pieces integrations treat both answers as strings (health.startsWith('ok'),
// semver on the version), so modeld must answer a string: "ok..." and a version number.
clientTest('getWellKnownHealth and getWellKnownVersion answer strings', async () => {
  const health = await api.wellKnown.getWellKnownHealth();
  assert.equal(typeof health, 'string', `health: ${JSON.stringify(health)}`);
  assert.ok(health.startsWith('ok'), `health: ${JSON.stringify(health)}`);
  const version = await api.wellKnown.getWellKnownVersion();
  assert.equal(typeof version, 'string', `version: ${JSON.stringify(version)}`);
  assert.match(version, /^\d+\.\d+\.\d+/, 'the version is semver-like');
});

// Model ids are kept in the registry: after a restart over the same data dir every model
// (catalog entries, a downloaded custom model, a custom model never downloaded, a model
// installed through the generic API) has the same id, and those ids still address them.
clientTest('model ids are stable across a restart', async () => {
  const own = await startModeld();
  try {
    const apis = clients(own.base);
    const fetched = await createCustom('restart-downloaded', { apis });
    const seeded = await createCustom('restart-seeded', { apis });
    await downloadAndWait(fetched.model.id, apis, own.base);
    const name = uniqueName('restart-generic');
    const file = origin.add(`${name}.bin`, 128 * 1024);
    const pulled = await request(`${own.base}/model-download?wait=true`, {
      method: 'POST', body: { model_name: name, version: 'v1', download_url: file.url },
    });
    assert.equal(pulled.status, 200, `generic pull: ${pulled.text}`);

    const ids = async (over) =>  // "name:version" -> id, for every model listed
      new Map((await over.models.modelsSnapshot()).iterable.map((m) => [m.unique, m.id]));
    const idsBefore = await ids(apis);
    for (const ref of [fetched.ref, seeded.ref, `${name}:v1`]) {
      assert.ok(idsBefore.has(ref), `${ref} is listed before the restart`);
    }

    await own.restart();
    const again = clients(own.base);
    const idsAfter = await ids(again);
    assert.deepEqual(Object.fromEntries(idsAfter), Object.fromEntries(idsBefore),
                     'the models and their ids after the restart');
    const f = await again.model.modelsSpecificModelSnapshot({ model: fetched.model.id });
    assert.equal(f.downloaded, true, 'the downloaded custom model is still downloaded');
    assert.equal(f.custom, true);
    const s = await again.model.modelsSpecificModelSnapshot({ model: seeded.model.id });
    assert.equal(s.downloaded, false, 'the seeded model is still not downloaded');
    assert.equal(s.custom, true);
  } finally {
    await own.close();
  }
});
