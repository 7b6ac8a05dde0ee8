// Issue 9, "Web pages must not drive modeld", proved in a real browser: Debian's headless
// Chromium loads pages that try every attack on a real `modeld serve`; none works, and the
// same actions from modeld's own origin do. modeld's state is checked after each attack by
// direct (non-browser) requests.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';

import { launchChromium, request, startModeld, startOrigin, startPageServer, tmpdir, until } from './lib.mjs';

let browser, origin, attacker;
before(async () => {
  [browser, origin, attacker] = await Promise.all([launchChromium(), startOrigin(), startPageServer()]);
});
after(async () => {
  await browser?.close();
  await origin?.close();
  await attacker?.close();
});

// The state modeld reports to a direct request (with the bearer token when it has one).
function direct(modeld, token) {
  const auth = token ? { Authorization: `Bearer ${token}` } : {};
  const get = async (target) => {
    const r = await request(modeld.port, 'GET', target, { headers: auth });
    assert.equal(r.status, 200, `GET ${target}: ${r.status} ${r.text}`);
    return r.json;
  };
  return {
    auth,
    jobs: async () => (await get('/model-download')).downloads,
    job: async (name) => (await get('/model-download')).downloads.find((d) => d.model_name === name),
    progress: (id) => get(`/model-download/${id}/progress`),
    installed: async (name) => (await request(modeld.port, 'GET', `/models/${name}`, { headers: auth })).status === 200,
    // Installs NAME:v1 from the origin and waits for it.
    async install(name) {
      const { url } = origin.add(`${name}.bin`);
      const r = await request(modeld.port, 'POST', '/model-download', { headers: auth,
        body: { model_name: name, version: 'v1', download_url: url, wait: true } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.status, 'completed', r.text);
    },
    // Starts a download that keeps running (a trickling origin); resolves its id once it
    // is downloading.
    async running(name) {
      const r = await request(modeld.port, 'POST', '/model-download', { headers: auth,
        body: { model_name: name, version: 'v1', download_url: origin.trickleUrl(`${name}.bin`) } });
      assert.equal(r.status, 200, r.text);
      const id = r.json.download_id;
      await until(`${name} downloading`, async () => (await get(`/model-download/${id}/progress`)).state === 'downloading');
      return id;
    },
  };
}

function startBody(name) {
  return JSON.stringify({ model_name: name, version: 'v1', download_url: origin.add(`${name}.bin`).url });
}

// Asserts that no job was created for |name| and the origin saw no request for its file.
async function assertNotStarted(state, name) {
  assert.equal(await state.job(name), undefined, `a job for ${name} was started`);
  assert.equal(origin.hits(name), 0, `the origin was asked for ${name}`);
}

// What an attacking page tries, from wherever it is loaded. |base| is modeld's URL as the
// page names it. Returns nothing: the checks are on modeld's state afterwards.
describe('a page from another origin cannot drive modeld', { timeout: 180000 }, () => {
  let modeld, state, page, base, victimJob;
  before(async () => {
    modeld = await startModeld();
    state = direct(modeld);
    base = modeld.origin;
    await state.install('victim');
    victimJob = await state.running('runner');
    page = await browser.open(`${attacker.origin}/attack.html`);
  });
  after(async () => { await page?.close(); await modeld?.stop(); });

  it('cannot start a download with a text/plain fetch (no-cors)', async () => {
    const r = await page.evaluate(([url, body]) => t.fetch(url, { method: 'POST', mode: 'no-cors',
      headers: { 'Content-Type': 'text/plain' }, body }), [`${base}/model-download`, startBody('a-textplain')]);
    assert.ok(r.ok, 'the request was sent');  // an opaque answer: it reached modeld
    await assertNotStarted(state, 'a-textplain');
  });

  it('cannot start a download with a form-encoded fetch carrying JSON (no-cors)', async () => {
    await page.evaluate(([url, body]) => t.fetch(url, { method: 'POST', mode: 'no-cors',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body }),
      [`${base}/model-download`, startBody('a-formfetch')]);
    await assertNotStarted(state, 'a-formfetch');
  });

  it('cannot start a download with a submitted form (application/x-www-form-urlencoded)', async () => {
    const { url } = origin.add('a-formurl.bin');
    await page.evaluate(([action, fields]) => t.form(action, 'application/x-www-form-urlencoded', fields),
      [`${base}/model-download`, [['model_name', 'a-formurl'], ['version', 'v1'], ['download_url', url]]]);
    await assertNotStarted(state, 'a-formurl');
  });

  it('cannot start a download with a submitted form (enctype="text/plain", a JSON body)', async () => {
    // name + "=" + value: {"model_name":..., "pad":"=" + "\"}" is a JSON object.
    const body = startBody('a-formtext');
    const name = body.slice(0, -1) + ',"pad":"';
    await page.evaluate(([action, fields]) => t.form(action, 'text/plain', fields),
      [`${base}/model-download`, [[name, '"}']]]);
    await assertNotStarted(state, 'a-formtext');
  });

  it('cannot delete a model', async () => {
    const cors = await page.evaluate((url) => t.fetch(url, { method: 'DELETE' }), `${base}/models/victim`);
    assert.ok(!cors.ok, `the page read the answer: ${JSON.stringify(cors)}`);
    // A form can only POST; a POST to the model's URL must not delete it either.
    await page.evaluate((url) => t.fetch(url, { method: 'POST', mode: 'no-cors' }), `${base}/models/victim`);
    assert.ok(await state.installed('victim'), 'the model was deleted');
  });

  it('cannot cancel or pause a job', async () => {
    for (const action of ['cancel', 'pause']) {
      await page.evaluate((url) => t.fetch(url, { method: 'POST', mode: 'no-cors' }),
        `${base}/model-download/${victimJob}/${action}`);
      await page.evaluate((url) => t.form(url, 'application/x-www-form-urlencoded', []),
        `${base}/model-download/${victimJob}/${action}`);
      assert.equal((await state.progress(victimJob)).state, 'downloading', `the job was ${action}ed`);
    }
  });

  it('cannot read the inventory, the jobs or the cache', async () => {
    for (const target of ['/models', '/models/victim', '/model-download', `/model-download/${victimJob}/progress`, '/cache']) {
      const r = await page.evaluate((url) => t.fetch(url), `${base}${target}`);
      assert.ok(!r.ok, `the page read ${target}: ${JSON.stringify(r).slice(0, 200)}`);
    }
  });

  it('cannot watch the jobs on the WebSocket', async () => {
    const r = await page.evaluate((url) => t.ws(url), `${base.replace('http', 'ws')}/ws`);
    assert.deepEqual(r.messages, [], 'the page received job events');
    assert.ok(!r.opened, 'the WebSocket connected');
  });

  it("cannot watch a job's events (EventSource)", async () => {
    const r = await page.evaluate((url) => t.sse(url), `${base}/model-download/${victimJob}/events`);
    assert.deepEqual(r.events, [], 'the page received job events');
    assert.ok(r.error, 'the EventSource did not fail');
  });

  it('left modeld as it was', async () => {
    assert.ok(await state.installed('victim'));
    assert.equal((await state.progress(victimJob)).state, 'downloading');
    const names = (await state.jobs()).map((d) => d.model_name);
    assert.deepEqual(names.filter((n) => n !== 'runner' && n !== 'victim'), [], `jobs: ${names}`);
  });
});

describe('DNS rebinding: a page at http://evil.example:<modeld port> gets 403 for everything', { timeout: 180000 }, () => {
  let modeld, state, page, base, victimJob;
  before(async () => {
    modeld = await startModeld();
    state = direct(modeld);
    await state.install('victim');
    victimJob = await state.running('runner');
    base = `http://evil.example:${modeld.port}`;
    // The attacker's server before the rebind stands in as interception of the document;
    // every other request of the page goes to 127.0.0.1, that is to modeld.
    page = await browser.open(`${base}/attack.html`, { fulfil: true });
  });
  after(async () => { await page?.close(); await modeld?.stop(); });

  const same = (init) => async (target) => page.evaluate(([url, i]) => t.fetch(url, i), [target, init]);

  it('every route answers 403 with a JSON detail', async () => {
    const cases = [
      ['/healthz', {}], ['/models', {}], ['/models/victim', {}], ['/model-download', {}], ['/cache', {}],
      [`/model-download/${victimJob}/progress`, {}],
      ['/model-download', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: startBody('r-json') }],
      ['/model-download', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: startBody('r-text') }],
      [`/model-download/${victimJob}/cancel`, { method: 'POST' }],
      [`/model-download/${victimJob}/pause`, { method: 'POST' }],
      ['/models/victim', { method: 'DELETE' }],
    ];
    const wrong = [];  // every case is tried (a DELETE that works today must show below)
    for (const [target, init] of cases) {
      const r = await same(init)(target);
      let detail;
      try { detail = JSON.parse(r.body).detail; } catch { /* not JSON */ }
      if (!r.ok || r.status !== 403 || typeof detail !== 'string') {
        wrong.push(`${init.method || 'GET'} ${target}: ${r.ok ? `${r.status} ${r.body?.slice(0, 100)}` : r.error}`);
      }
    }
    assert.deepEqual(wrong, [], `not refused:\n${wrong.join('\n')}`);
  });

  it('the WebSocket does not connect', async () => {
    const r = await page.evaluate((url) => t.ws(url), `ws://evil.example:${modeld.port}/ws`);
    assert.deepEqual(r.messages, []);
    assert.ok(!r.opened, 'the WebSocket connected');
  });

  it('the event stream fails', async () => {
    const r = await page.evaluate((url) => t.sse(url), `/model-download/${victimJob}/events`);
    assert.deepEqual(r.events, []);
    assert.ok(r.error);
  });

  it('changed nothing', async () => {
    assert.ok(await state.installed('victim'));
    assert.equal((await state.progress(victimJob)).state, 'downloading');
    await assertNotStarted(state, 'r-json');
    await assertNotStarted(state, 'r-text');
  });
});

describe("the same actions from modeld's own origin work", { timeout: 180000 }, () => {
  let modeld, state, page;
  before(async () => {
    modeld = await startModeld();
    state = direct(modeld);
    await state.install('victim');
    page = await browser.open(`${modeld.origin}/own.html`, { fulfil: true });
  });
  after(async () => { await page?.close(); await modeld?.stop(); });

  it('starts a download and reads its progress and /models', async () => {
    const r = await page.evaluate((body) => t.fetch('/model-download', { method: 'POST',
      headers: { 'Content-Type': 'application/json' }, body }), startBody('own'));
    assert.equal(r.status, 200, r.body);
    const id = JSON.parse(r.body).download_id;
    await until('own completed', async () => {
      const p = await page.evaluate((u) => t.fetch(u), `/model-download/${id}/progress`);
      assert.equal(p.status, 200, p.body);
      return JSON.parse(p.body).status === 'completed';
    });
    const models = await page.evaluate(() => t.fetch('/models'));
    assert.equal(models.status, 200);
    const names = JSON.parse(models.body).models.map((m) => m.name);
    assert.ok(names.includes('own') && names.includes('victim'), names.join());
  });

  it('watches the jobs on the WebSocket and a job on its event stream', async () => {
    const id = await state.running('own-running');
    const ws = await page.evaluate((url) => t.ws(url), `ws://127.0.0.1:${modeld.port}/ws`);
    assert.ok(ws.opened && ws.messages.length === 1, JSON.stringify(ws));
    assert.ok(JSON.parse(ws.messages[0]).type, ws.messages[0]);
    const sse = await page.evaluate((url) => t.sse(url), `/model-download/${id}/events`);
    assert.ok(sse.events.length === 1, JSON.stringify(sse));
  });

  it('cancels a job', async () => {
    const id = await state.running('own-cancel');
    const r = await page.evaluate((u) => t.fetch(u, { method: 'POST' }), `/model-download/${id}/cancel`);
    assert.equal(r.status, 200, r.body);
    await until('cancelled', async () => (await state.progress(id)).state === 'cancelled');
  });

  it('deletes a model', async () => {
    const r = await page.evaluate(() => t.fetch('/models/victim', { method: 'DELETE' }));
    assert.equal(r.status, 200, r.body);
    assert.ok(!(await state.installed('victim')));
  });

  it('also as http://localhost:<port>', async () => {
    const p = await browser.open(`http://localhost:${modeld.port}/own.html`, { fulfil: true });
    try {
      const r = await p.evaluate(() => t.fetch('/models'));
      assert.equal(r.status, 200, r.body);
      const s = await p.evaluate((body) => t.fetch('/model-download', { method: 'POST',
        headers: { 'Content-Type': 'application/json' }, body }), startBody('own-localhost'));
      assert.equal(s.status, 200, s.body);
    } finally {
      await p.close();
    }
  });
});

describe('--allowed-origin: that origin may use the API cross-origin, others may not', { timeout: 180000 }, () => {
  let modeld, state, friend;
  before(async () => {
    friend = await startPageServer();
    modeld = await startModeld({ args: ['--allowed-origin', friend.origin] });
    state = direct(modeld);
    await state.install('victim');
  });
  after(async () => { await modeld?.stop(); await friend?.close(); });

  it('the allowed origin reads /models and starts a download', async () => {
    const page = await browser.open(`${friend.origin}/ui.html`);
    try {
      const r = await page.evaluate((url) => t.fetch(url), `${modeld.origin}/models`);
      assert.ok(r.ok, r.error);
      assert.equal(r.status, 200);
      assert.ok(JSON.parse(r.body).models.some((m) => m.name === 'victim'));
      const s = await page.evaluate(([url, body]) => t.fetch(url, { method: 'POST',
        headers: { 'Content-Type': 'application/json' }, body }), [`${modeld.origin}/model-download`, startBody('friend')]);
      assert.ok(s.ok, s.error);
      assert.equal(s.status, 200, s.body);
      assert.ok(await state.job('friend'));
    } finally {
      await page.close();
    }
  });

  it('another origin cannot read /models', async () => {
    const page = await browser.open(`${attacker.origin}/attack.html`);
    try {
      const r = await page.evaluate((url) => t.fetch(url), `${modeld.origin}/models`);
      assert.ok(!r.ok, `the page read /models: ${JSON.stringify(r).slice(0, 200)}`);
    } finally {
      await page.close();
    }
  });

  it('CORS headers echo the allowed origin only, never *', async () => {
    const ok = await request(modeld.port, 'GET', '/models', { headers: { Origin: friend.origin } });
    assert.equal(ok.headers['access-control-allow-origin'], friend.origin);
    assert.match(ok.headers.vary || '', /origin/i);
    const other = await request(modeld.port, 'GET', '/models', { headers: { Origin: attacker.origin } });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    const none = await request(modeld.port, 'GET', '/models');
    assert.notEqual(none.headers['access-control-allow-origin'], '*');
    const preflight = (o) => request(modeld.port, 'OPTIONS', '/models/victim', { headers: { Origin: o,
      'Access-Control-Request-Method': 'DELETE' } });
    const good = await preflight(friend.origin);
    assert.ok(good.status >= 200 && good.status < 300, `preflight from the allowed origin: ${good.status}`);
    assert.equal(good.headers['access-control-allow-origin'], friend.origin);
    const bad = await preflight(attacker.origin);
    assert.equal(bad.status, 403);
    assert.equal(bad.headers['access-control-allow-origin'], undefined);
    assert.equal(bad.headers['access-control-allow-methods'], undefined);
  });
});

describe('--token: a page without the token can do nothing, and ?token= is never logged', { timeout: 180000 }, () => {
  const token = `tok${Math.random().toString(16).slice(2)}${Date.now()}`;
  let modeld, state, page;
  before(async () => {
    modeld = await startModeld({ args: ['--token', token], logLevel: 'info' });
    state = direct(modeld, token);
    await state.install('victim');
    page = await browser.open(`${modeld.origin}/own.html`, { fulfil: true });
  });
  after(async () => { await page?.close(); await modeld?.stop(); });

  it("modeld's own origin without the token gets 401 and changes nothing", async () => {
    const id = await state.running('tok-running');
    const reads = ['/models', '/model-download', '/cache', `/model-download/${id}/progress`];
    for (const target of reads) {
      const r = await page.evaluate((u) => t.fetch(u), target);
      assert.equal(r.status, 401, `${target}: ${r.status}`);
    }
    const writes = [
      ['/model-download', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: startBody('tok-start') }],
      [`/model-download/${id}/cancel`, { method: 'POST' }],
      ['/models/victim', { method: 'DELETE' }],
    ];
    for (const [target, init] of writes) {
      const r = await page.evaluate(([u, i]) => t.fetch(u, i), [target, init]);
      assert.equal(r.status, 401, `${init.method} ${target}: ${r.status}`);
    }
    const wrong = await page.evaluate((u) => t.fetch(u, { headers: { Authorization: 'Bearer nope' } }), '/models');
    assert.equal(wrong.status, 401);
    const ws = await page.evaluate((url) => t.ws(url), `ws://127.0.0.1:${modeld.port}/ws`);
    assert.ok(!ws.opened && ws.messages.length === 0, JSON.stringify(ws));
    const sse = await page.evaluate((url) => t.sse(url), `/model-download/${id}/events?token=nope`);
    assert.ok(sse.error && sse.events.length === 0, JSON.stringify(sse));
    assert.ok(await state.installed('victim'));
    assert.equal((await state.progress(id)).state, 'downloading');
    await assertNotStarted(state, 'tok-start');
  });

  it('another origin without the token can do nothing', async () => {
    const p = await browser.open(`${attacker.origin}/attack.html`);
    try {
      await p.evaluate(([url, body]) => t.fetch(url, { method: 'POST', mode: 'no-cors',
        headers: { 'Content-Type': 'text/plain' }, body }), [`${modeld.origin}/model-download`, startBody('tok-x')]);
      const r = await p.evaluate((url) => t.fetch(url), `${modeld.origin}/models`);
      assert.ok(!r.ok || r.status === 401, JSON.stringify(r).slice(0, 200));
      await assertNotStarted(state, 'tok-x');
    } finally {
      await p.close();
    }
  });

  it('with the token, the page works; ?token= on streams works and is not logged', async () => {
    const id = await state.running('tok-stream');
    const r = await page.evaluate(([u, tok]) => t.fetch(u, { headers: { Authorization: `Bearer ${tok}` } }),
      ['/models', token]);
    assert.equal(r.status, 200, r.body);
    const sse = await page.evaluate((url) => t.sse(url), `/model-download/${id}/events?token=${token}`);
    assert.equal(sse.events.length, 1, JSON.stringify(sse));
    const ws = await page.evaluate((url) => t.ws(url), `ws://127.0.0.1:${modeld.port}/ws?token=${token}`);
    assert.ok(ws.opened && ws.messages.length === 1, JSON.stringify(ws));
    // The access log has the stream's line (so the check below is not vacuous)...
    await until('the stream in the access log', () => modeld.stderr().includes(`/model-download/${id}/events`), 10000);
    // ...and never the token.
    assert.ok(!modeld.stderr().includes(token), `the token is in the log:\n${modeld.stderr()
      .split('\n').filter((l) => l.includes(token)).join('\n')}`);
  });

  it('GET /healthz needs no token', async () => {
    assert.equal((await request(modeld.port, 'GET', '/healthz')).status, 200);
  });

  it('the token may come from MODELD_TOKEN or --token-file instead of the command line', async () => {
    const dir = tmpdir('modeld-token-');
    const file = path.join(dir, 'token');
    fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
    try {
      for (const opts of [{ env: { MODELD_TOKEN: token } }, { args: ['--token-file', file] }]) {
        const m = await startModeld(opts);
        try {
          assert.equal((await request(m.port, 'GET', '/models')).status, 401, JSON.stringify(opts));
          const ok = await request(m.port, 'GET', '/models', { headers: { Authorization: `Bearer ${token}` } });
          assert.equal(ok.status, 200, JSON.stringify(opts));
          assert.ok(!m.stderr().includes(token), 'the token is in the log');
        } finally {
          await m.stop();
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The rules themselves, on the wire (no browser): clearer failures than a browser gives.
describe('the rules on the wire', { timeout: 180000 }, () => {
  let modeld, state, victimJob;
  before(async () => {
    modeld = await startModeld();
    state = direct(modeld);
    await state.install('victim');
    victimJob = await state.running('runner');
  });
  after(async () => { await modeld?.stop(); });

  const post = (target, headers, body) => request(modeld.port, 'POST', target, { headers, body });

  it('a foreign Host gets 403 with a JSON detail on every route', async () => {
    for (const host of ['evil.example', `evil.example:${modeld.port}`, `127.0.0.1.evil.example:${modeld.port}`]) {
      for (const [m, target] of [['GET', '/healthz'], ['GET', '/models'], ['DELETE', '/models/victim'],
                                 ['GET', `/model-download/${victimJob}/events`]]) {
        const r = await request(modeld.port, m, target, { host, headersOnly: target.endsWith('/events') });
        assert.equal(r.status, 403, `${m} ${target} Host ${host}: ${r.status}`);
        assert.equal(typeof r.json?.detail, 'string', r.text);
      }
    }
    for (const host of [`localhost:${modeld.port}`, `127.0.0.1:${modeld.port}`, 'localhost']) {
      assert.equal((await request(modeld.port, 'GET', '/healthz', { host })).status, 200, host);
    }
  });

  it('a state-changing request with a foreign or null Origin gets 403', async () => {
    // (https:// + Host is taken as modeld's own too, for a TLS proxy in front: a page can
    // only have that origin if something serves TLS on modeld's own port.)
    for (const o of ['http://evil.example', 'null', `http://localhost:${modeld.port + 1}`, 'http://127.0.0.1',
                     `http://127.0.0.1:${modeld.port}.evil.example`]) {
      const r = await post('/model-download', { Origin: o }, { model_name: 'w-origin', download_url: origin.add('w-origin.bin').url });
      assert.equal(r.status, 403, `Origin ${o}: ${r.status} ${r.text}`);
      assert.equal((await post(`/model-download/${victimJob}/cancel`, { Origin: o })).status, 403, `cancel, Origin ${o}`);
      assert.equal((await request(modeld.port, 'DELETE', '/models/victim', { headers: { Origin: o } })).status, 403,
        `DELETE, Origin ${o}`);
    }
    await assertNotStarted(state, 'w-origin');
    assert.ok(await state.installed('victim'));
    // modeld's own origin is fine.
    const own = await post('/model-download', { Origin: modeld.origin }, { model_name: 'w-own', download_url: origin.add('w-own.bin').url });
    assert.equal(own.status, 200, own.text);
  });

  it('a POST body that is not application/json gets 415', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
      const headers = type ? { 'Content-Type': type } : {};
      const r = await post('/model-download', headers, JSON.stringify({ model_name: 'w-type', download_url: origin.add('w-type.bin').url }));
      assert.equal(r.status, 415, `Content-Type ${type}: ${r.status} ${r.text}`);
    }
    await assertNotStarted(state, 'w-type');
    const json = await post('/model-download', { 'Content-Type': 'application/json; charset=utf-8' },
      JSON.stringify({ model_name: 'w-json', download_url: origin.add('w-json.bin').url }));
    assert.equal(json.status, 200, json.text);
  });

  it('WebSocket upgrades with a foreign Origin or Host are refused with 403', async () => {
    const attempt = (headers) => new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${modeld.port}/ws`, { headers, origin: headers.Origin });
      ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode); ws.terminate(); });
      ws.on('open', () => { resolve('open'); ws.terminate(); });
      ws.on('error', () => resolve('error'));
    });
    assert.equal(await attempt({ Origin: 'http://evil.example' }), 403);
    assert.equal(await attempt({ Origin: 'null' }), 403);
    assert.equal(await attempt({ Host: `evil.example:${modeld.port}` }), 403);
    assert.equal(await attempt({ Origin: modeld.origin }), 'open');
  });

  it('never answers Access-Control-Allow-Origin: *', async () => {
    for (const o of [undefined, 'http://evil.example']) {
      const r = await request(modeld.port, 'GET', '/models', { headers: o ? { Origin: o } : {} });
      assert.notEqual(r.headers['access-control-allow-origin'], '*', `Origin ${o}`);
    }
  });
});
