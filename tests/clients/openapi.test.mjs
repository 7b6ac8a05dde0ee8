// GET /openapi.json (issue 16): the OpenAPI 3.1 description modeld generates from its
// dialects' route tables (src/api/openapi.h), validated by a real validator
// (@apidevtools/swagger-parser 12, OpenAPI 3.1), and checked against the running server it
// came from: every operation it lists is answered (no 404 "Not Found" from the router, no
// 405), and routes known to exist are listed. A real `modeld serve` (MODELD_BIN, else
// build/modeld) with a token and two listeners: every dialect, and generic + ollama.
//
//   MODELD_BIN=build/modeld node --test tests/clients/openapi.test.mjs
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import SwaggerParser from '@apidevtools/swagger-parser';

import { request, startModeld } from './lib/modeld.mjs';

const TOKEN = 'openapi-test-token';
const AUTH = { Authorization: `Bearer ${TOKEN}` };
const DEADLINE = { timeout: 60000 };

let modeld;
let second;  // the base URL of the generic + ollama listener

before(async () => {
  modeld = await startModeld({ args: ['--token', TOKEN, '--listen', '127.0.0.1:0=generic,ollama'] });
  const m = /listening on 127\.0\.0\.1:\d+, 127\.0\.0\.1:(\d+)/.exec(modeld.stderr());
  assert.ok(m, `modeld did not say where its second listener is:\n${modeld.stderr()}`);
  second = `http://127.0.0.1:${m[1]}`;
});

after(async () => {
  await modeld?.close();
});

async function openapi(base, query = '') {
  const res = await request(`${base}/openapi.json${query}`, { headers: AUTH });
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  return res.json;
}

// Validates a copy (the validator dereferences in place); a validation error fails the test.
async function validate(doc) {
  await SwaggerParser.validate(structuredClone(doc));
}

// Every operation: [method, path, operation].
function operations(doc) {
  const out = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) out.push([method, path, op]);
  }
  return out;
}

test('the document is valid OpenAPI 3.1 with modeld\'s version', DEADLINE, async () => {
  const doc = await openapi(modeld.base);
  await validate(doc);
  assert.equal(doc.openapi, '3.1.0');
  const version = await request(`${modeld.base}/version`, { headers: AUTH });
  assert.equal(version.status, 200);
  assert.equal(doc.info.version, version.json.version);
  assert.deepEqual(doc.tags.map((t) => t.name), ['generic', 'pieces', 'lmstudio', 'jan', 'ollama', 'hub', 'web']);
  assert.equal(doc.components.securitySchemes.bearer.scheme, 'bearer');
});

test('it is behind the token like the other routes', DEADLINE, async () => {
  const res = await request(`${modeld.base}/openapi.json`);
  assert.equal(res.status, 401);
  assert.ok(res.json.detail, res.text);
});

test('known operations are there with their parameters', DEADLINE, async () => {
  const doc = await openapi(modeld.base);
  const progress = doc.paths['/model-download/{id}/progress'].get;
  assert.deepEqual(progress.parameters.map((p) => [p.name, p.in, p.required]), [['id', 'path', true]]);
  assert.deepEqual(progress.tags, ['generic']);

  const download = doc.paths['/model-download'].post;
  const body = download.requestBody.content['application/json'].schema;
  assert.deepEqual(body.required, ['model_name']);
  for (const field of ['model_name', 'version', 'download_url', 'checksum', 'force_download']) {
    assert.ok(body.properties[field], `POST /model-download's body schema has no ${field}`);
  }
  assert.ok(download.parameters.some((p) => p.name === 'wait' && p.in === 'query'));

  // A "*name" route: the rest of the path, which may hold '/'.
  const model = doc.paths['/models/{name}'].get;
  assert.match(model.parameters[0].description, /'\/'/);

  // One operation for the route three dialects answer, tagged with each.
  assert.deepEqual(doc.paths['/models'].get.tags, ['generic', 'pieces', 'jan']);
  // Jan's routes under /v1 too.
  assert.deepEqual(doc.paths['/v1/models'].get.tags, ['jan']);

  // Streams: SSE, NDJSON, WebSocket; public routes need no token.
  assert.ok(doc.paths['/model-download/{id}/events'].get.responses['200'].content['text/event-stream']);
  assert.ok(doc.paths['/api/pull'].post.responses['200'].content['application/x-ndjson']);
  assert.ok(doc.paths['/ws'].get.responses['101']);
  assert.deepEqual(doc.paths['/healthz'].get.security, []);
  assert.deepEqual(doc.paths['/.well-known/health'].get.security, []);

  // Each dialect's error shape.
  assert.deepEqual(doc.components.schemas.generic_error.required, ['detail']);
  for (const d of ['pieces', 'lmstudio', 'jan', 'ollama']) {
    assert.ok(doc.components.schemas[`${d}_error`], `no ${d}_error schema`);
  }
  for (const [method, path, op] of operations(doc)) {
    assert.ok(op.summary, `${method} ${path} has no summary`);
    assert.ok(op.operationId, `${method} ${path} has no operationId`);
    // Every {name} of the path is a required path parameter, and nothing else is.
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    const declared = (op.parameters ?? []).filter((p) => p.in === 'path');
    assert.deepEqual(declared.map((p) => p.name), templated, `${method} ${path}`);
    assert.ok(declared.every((p) => p.required === true), `${method} ${path}`);
  }
});

// The router's own 404 (no route) as this listener words it, to tell it from a handler's
// 404 (an unknown model or job).
async function noRouteAnswer(base) {
  const res = await request(`${base}/no/such/route/at/all`, { headers: AUTH });
  assert.equal(res.status, 404);
  return res.text;
}

// Asks |base| for every operation of |doc|, each path parameter "x", a JSON body "{}" where
// a body may go: none may be the router's 404 or a 405 (or a 401: the token is sent).
async function everyOperationIsAnswered(base, doc) {
  const noRoute = await noRouteAnswer(base);
  const asked = [];
  for (const [method, path, op] of operations(doc)) {
    const url = base + path.replace(/\{[^}]+\}/g, 'x');
    const init = { method: method.toUpperCase(), headers: { ...AUTH },
                   signal: AbortSignal.timeout(15000) };
    if (['post', 'put', 'patch', 'delete'].includes(method)) {
      init.body = '{}';
      init.headers['Content-Type'] = 'application/json';
    }
    const res = await fetch(url, init);
    // Only an answer that ends is read: a stream that started would not.
    const text = res.status === 404 ? await res.text() : '';
    if (res.status !== 404) await res.body?.cancel();
    asked.push(`${method.toUpperCase()} ${path}`);
    const what = `${init.method} ${url} (${op.operationId})`;
    assert.notEqual(res.status, 405, `${what}: 405, the server has no such method there`);
    assert.notEqual(res.status, 401, `${what}: 401`);
    assert.ok(!(res.status === 404 && text === noRoute),
              `${what}: the router answered 404 (no route): ${text}`);
  }
  return asked;
}

test('every operation in the document is answered by the server', DEADLINE, async () => {
  const doc = await openapi(modeld.base);
  const asked = await everyOperationIsAnswered(modeld.base, doc);
  // And routes known to exist are in the document (so it is not the empty set that passes).
  for (const known of ['GET /healthz', 'GET /version', 'GET /openapi.json', 'POST /model-download',
                       'GET /model-download/{id}/events', 'GET /.well-known/health',
                       'POST /model/{model}/download', 'POST /api/v1/models/download',
                       'GET /api/v0/models', 'GET /v1/models', 'POST /v1/models/pull',
                       'GET /events', 'POST /api/pull', 'GET /api/tags']) {
    assert.ok(asked.includes(known), `${known} is not in the document`);
  }
});

test('?dialect= gives one dialect\'s routes; an unknown one is a 404', DEADLINE, async () => {
  const doc = await openapi(modeld.base, '?dialect=ollama');
  await validate(doc);
  const ops = operations(doc);
  assert.ok(ops.length >= 8, `only ${ops.length} operations`);
  for (const [method, path, op] of ops) {
    assert.deepEqual(op.tags, ['ollama'], `${method} ${path}`);
    assert.match(path, /^\/api\//);
  }
  const unknown = await request(`${modeld.base}/openapi.json?dialect=nope`, { headers: AUTH });
  assert.equal(unknown.status, 404);
  assert.match(unknown.json.detail, /nope/);
});

test('a listener\'s document has the routes of its own dialects', DEADLINE, async () => {
  const doc = await openapi(second);
  await validate(doc);
  assert.deepEqual(doc.tags.map((t) => t.name), ['generic', 'ollama']);
  assert.ok(doc.paths['/api/pull']);
  assert.ok(doc.paths['/model-download']);
  assert.equal(doc.paths['/v1/models'], undefined);
  assert.equal(doc.paths['/.well-known/health'], undefined);
  assert.deepEqual(doc.paths['/models'].get.tags, ['generic']);
  await everyOperationIsAnswered(second, doc);
  // A dialect another listener speaks is not this one's.
  const other = await request(`${second}/openapi.json?dialect=pieces`, { headers: AUTH });
  assert.equal(other.status, 404);
});
