// modeld's Ollama dialect (issue 15) driven by the official client, `ollama` on npm (0.6.4),
// as front ends use it, against a real `modeld serve` (MODELD_BIN, else build/modeld) that
// pulls from the Ollama registry mimic (tests/origin/ollama_mimic.h as a process) on
// 127.0.0.1.
//
//   MODELD_BIN=build/modeld node --test tests/clients/ollama.test.mjs
//
// What the client does that the server must meet (../shared/dialects.md section 7):
// - pull sends {name, stream} (stream false unless asked); a stream is split on "\n", any
//   line with "error" throws, and a stream ending without status "success" throws.
// - every request, GET and DELETE included, carries Content-Type: application/json; on a
//   non-2xx answer the "error" field is the message only when the reply is JSON.
// - delete and copy read no body: a 2xx is success.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { Ollama } from 'ollama';

import { generatedBytes, startModeld, startOllamaMimic } from './lib/modeld.mjs';

const MiB = 1024 * 1024;
const DEADLINE = { timeout: 120000 };
const MODEL = 'application/vnd.ollama.image.model';
const TEMPLATE = 'application/vnd.ollama.image.template';
const LICENSE = 'application/vnd.ollama.image.license';

// A GGUF v3 file with no tensors and two string keys: enough for modeld's reader.
function tinyGguf() {
  const parts = [];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); parts.push(b); };
  const str = (s) => { u64(Buffer.byteLength(s)); parts.push(Buffer.from(s)); };
  parts.push(Buffer.from('GGUF'));
  u32(3);
  u64(0);  // tensors
  u64(2);  // key/values
  for (const [k, v] of [['general.architecture', 'llama'], ['general.name', 'tiny']]) {
    str(k);
    u32(8);  // string
    str(v);
  }
  return Buffer.concat(parts);
}

let scratch;
let fast;
let slow;
let modeld;
let ollama;
const template = '{{ .System }} {{ .Prompt }}';

before(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'modeld-ollama-client-'));
  fs.writeFileSync(path.join(scratch, 'tiny.gguf'), tinyGguf());
  fs.writeFileSync(path.join(scratch, 'big.bin'), generatedBytes('big', 8 * MiB));
  fast = await startOllamaMimic({
    models: [{
      name: 'library/tiny', tags: ['latest', '1b'],
      layers: [{ mediaType: MODEL, file: path.join(scratch, 'tiny.gguf') },
               { mediaType: TEMPLATE, text: template },
               { mediaType: LICENSE, text: 'MIT License' }],
    }],
  });
  // Slow blobs, so that a pull can be killed in the middle.
  slow = await startOllamaMimic({
    models: [{ name: 'library/big', tags: ['latest'],
               layers: [{ mediaType: MODEL, file: path.join(scratch, 'big.bin') }] }],
    rate: 1 * MiB,
  });
  modeld = await startModeld({ args: ['--ollama-registry', fast.registry] });
  ollama = new Ollama({ host: modeld.base });
});

after(async () => {
  await modeld?.close();
  await fast?.close();
  await slow?.close();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

test('a streamed pull is read line by line through to success', DEADLINE, async () => {
  const seen = [];
  for await (const part of await ollama.pull({ model: 'tiny:1b', stream: true })) seen.push(part);
  assert.equal(seen[0].status, 'pulling manifest');
  assert.equal(seen.at(-1).status, 'success');
  const last = new Map();
  for (const p of seen.filter((s) => s.status.startsWith('pulling sha') || s.digest)) {
    assert.match(p.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(p.status, `pulling ${p.digest.slice(7, 19)}`);
    const completed = p.completed ?? 0;
    assert.ok(completed >= (last.get(p.digest) ?? 0), 'progress never goes back');
    assert.ok(completed <= p.total);
    last.set(p.digest, completed);
  }
  assert.ok(last.size >= 3, 'a line per blob: the model, the template, the license, the config');
  const statuses = seen.map((s) => s.status);
  assert.ok(statuses.indexOf('verifying sha256 digest') < statuses.indexOf('writing manifest'));
});

test('stream:false answers success once the pull is done; list shows it', DEADLINE, async () => {
  assert.deepEqual(await ollama.pull({ model: 'tiny' }), { status: 'success' });
  const { models } = await ollama.list();
  const tiny = models.find((m) => m.name === 'tiny:latest');
  assert.ok(tiny, JSON.stringify(models));
  assert.equal(tiny.model, 'tiny:latest');
  assert.match(tiny.digest, /^[0-9a-f]{64}$/);
  assert.ok(tiny.size > 0);
  assert.equal(tiny.details.format, 'gguf');
  assert.equal(tiny.details.family, 'llama');
  assert.ok(!Number.isNaN(Date.parse(tiny.modified_at)));
});

test('show, a load through generate, ps, an unload through chat', DEADLINE, async () => {
  await ollama.pull({ model: 'tiny' });
  const shown = await ollama.show({ model: 'tiny' });
  assert.equal(shown.template, template);
  assert.equal(shown.license, 'MIT License');
  assert.equal(shown.details.family, 'llama');
  assert.equal(shown.model_info['general.architecture'], 'llama');

  const loaded = await ollama.generate({ model: 'tiny', prompt: '', keep_alive: '10m' });
  assert.equal(loaded.done, true);
  assert.equal(loaded.done_reason, 'load');
  const { models } = await ollama.ps();
  assert.deepEqual(models.map((m) => m.name), ['tiny:latest']);
  assert.equal(models[0].size_vram, 0);
  assert.ok(!Number.isNaN(Date.parse(models[0].expires_at)));

  const unloaded = await ollama.chat({ model: 'tiny', messages: [], keep_alive: 0 });
  assert.equal(unloaded.done_reason, 'unload');
  assert.deepEqual((await ollama.ps()).models, []);

  await assert.rejects(ollama.generate({ model: 'tiny', prompt: 'hello' }),
                       (e) => e.status_code === 501 && /no inference/.test(e.error));
});

test('copy makes a second name; delete removes one', DEADLINE, async () => {
  await ollama.pull({ model: 'tiny' });
  assert.deepEqual(await ollama.copy({ source: 'tiny', destination: 'tiny-copy:v1' }),
                   { status: 'success' });
  let names = (await ollama.list()).models.map((m) => m.name);
  assert.ok(names.includes('tiny-copy:v1'), names.join());
  assert.deepEqual(await ollama.delete({ model: 'tiny-copy:v1' }), { status: 'success' });
  names = (await ollama.list()).models.map((m) => m.name);
  assert.ok(!names.includes('tiny-copy:v1'), names.join());
  assert.ok(names.includes('tiny:latest'), names.join());
});

test('an unknown model is an error in every mode', DEADLINE, async () => {
  const notFound = 'pull model manifest: file does not exist';
  await assert.rejects(async () => {
    for await (const part of await ollama.pull({ model: 'nosuch', stream: true })) void part;
  }, (e) => e.message === notFound);
  await assert.rejects(ollama.pull({ model: 'nosuch' }),
                       (e) => e.status_code === 404 && e.error === notFound);
  await assert.rejects(ollama.show({ model: 'nosuch' }),
                       (e) => e.status_code === 404 && e.error === "model 'nosuch:latest' not found");
  await assert.rejects(ollama.delete({ model: 'nosuch' }), (e) => e.status_code === 404);
  await assert.rejects(ollama.copy({ source: 'nosuch', destination: 'x' }),
                       (e) => e.status_code === 404);
  await assert.rejects(ollama.generate({ model: 'nosuch', prompt: '' }),
                       (e) => e.status_code === 404);
  await assert.rejects(ollama.pull({ model: 'not a name!' }), (e) => e.status_code === 400);
});

test('a pull interrupted by killing the server resumes after a restart', DEADLINE, async () => {
  const size = 8 * MiB;
  const server = await startModeld({ args: ['--ollama-registry', slow.registry] });
  const client = new Ollama({ host: server.base });
  try {
    const stream = await client.pull({ model: 'big', stream: true });
    // Read until a few MiB have landed, then kill the server under the client.
    const interrupted = (async () => {
      for await (const part of stream) {
        if ((part.completed ?? 0) >= 4 * MiB && part.total === size) {
          server.proc.kill('SIGKILL');
        }
      }
    })();
    await assert.rejects(interrupted, 'the stream ends without success');
    const before = await slow.bytes();
    assert.ok(before >= 4 * MiB && before < size, `${before} bytes before the kill`);

    server.proc = null;  // it is gone: start again over the same data dir
    const again = await startModeld({ dataDir: server.dataDir,
                                      args: ['--ollama-registry', slow.registry] });
    try {
      const resumed = new Ollama({ host: again.base });
      assert.deepEqual(await resumed.pull({ model: 'big' }), { status: 'success' });
      const after = (await slow.bytes()) - before;
      // Resumed, not started again: what had landed (up to the last checkpoint) stays.
      assert.ok(after <= size - 2 * MiB, `resumed: ${after} more bytes after ${before}, of ${size}`);
      const { models } = await resumed.list();
      assert.ok(models.some((m) => m.name === 'big:latest'));
    } finally {
      await again.stop();
    }
  } finally {
    await server.close();
  }
});
