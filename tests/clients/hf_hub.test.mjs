// The Hub mirror (issue 18) driven by the official Hugging Face client, `@huggingface/hub`
// on npm (2.17.5), unchanged: its hubUrl (what HF_ENDPOINT sets) points at a real
// `modeld serve` (MODELD_BIN, else build/modeld), which pulls through from the Hub mimic
// (tests/origin/hub_mimic.h as a process: its API and its CDN on two ports).
//
//   MODELD_BIN=build/modeld node --test tests/clients/hf_hub.test.mjs
//
// What the client does that the mirror must meet (read from its source):
// - snapshotDownload: GET /api/models/{repo}/revision/{rev}?expand=... for "sha", then the
//   recursive tree (GET .../tree/{commit}?recursive=true&expand=false, following
//   Link: rel="next"), then for each file downloadFileToCacheDir: POST .../paths-info/
//   {commit} {"paths", "expand": true} for the etag (lfs.oid, else oid), a GET with
//   Range: bytes=0-0 for the size (206 with Content-Range), and the GET of the file.
// - a response with Content-Type application/vnd.xet-fileinfo+json would send it to Xet:
//   the mirror never answers so.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { downloadFile, fileDownloadInfo, listFiles, snapshotDownload } from '@huggingface/hub';

import { generatedBytes, request, startHubMimic, startModeld } from './lib/modeld.mjs';

const MiB = 1024 * 1024;
const DEADLINE = { timeout: 120000 };
const COMMIT = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex');

let scratch;
let hub;
let modeld;
const files = {};

before(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'modeld-hf-client-'));
  files['config.json'] = Buffer.from('{"model_type": "llama"}');
  files['tokenizer/vocab.txt'] = Buffer.from('a\nb\nc\n');
  files['model.safetensors'] = generatedBytes('weights', 12 * MiB);
  files['gguf/tiny-Q4_K_M.gguf'] = generatedBytes('gguf', 3 * MiB);
  const repoFiles = [];
  for (const [p, bytes] of Object.entries(files)) {
    const lfs = bytes.length > MiB;
    if (lfs) {
      const f = path.join(scratch, p.replaceAll('/', '_'));
      fs.writeFileSync(f, bytes);
      repoFiles.push({ path: p, file: f, lfs: true });
    } else {
      repoFiles.push({ path: p, text: bytes.toString() });
    }
  }
  hub = await startHubMimic({
    repos: [{ id: 'org/tiny', commit: COMMIT, refs: ['main'], files: repoFiles }],
    page_size: 2,  // the tree comes in pages: the client must follow the mirror's links
  });
  modeld = await startModeld({ args: ['--hub-upstream', hub.api] });
});

after(async () => {
  await modeld?.close();
  await hub?.close();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

test('snapshotDownload through the mirror: every file, verified, in the Hub cache layout',
     DEADLINE, async () => {
  const cacheDir = path.join(scratch, 'cache-1');
  const snapshot = await snapshotDownload({ repo: 'org/tiny', cacheDir, hubUrl: modeld.base });
  assert.equal(path.basename(snapshot), COMMIT);
  for (const [p, bytes] of Object.entries(files)) {
    const got = fs.readFileSync(path.join(snapshot, p));
    assert.equal(sha256(got), sha256(bytes), p);
  }
  const ref = fs.readFileSync(path.join(cacheDir, 'models--org--tiny', 'refs', 'main'), 'utf8');
  assert.equal(ref, COMMIT);
  // LFS blobs are named by their sha256, as the Hub's etag makes them.
  const blobs = fs.readdirSync(path.join(cacheDir, 'models--org--tiny', 'blobs'));
  assert.ok(blobs.includes(sha256(files['model.safetensors'])), blobs.join(' '));
});

test('a second client is served from the store: the upstream sends nothing again',
     DEADLINE, async () => {
  const before = await hub.bytes();
  const cacheDir = path.join(scratch, 'cache-2');
  const snapshot = await snapshotDownload({ repo: 'org/tiny', cacheDir, hubUrl: modeld.base,
                                            revision: COMMIT });
  for (const [p, bytes] of Object.entries(files)) {
    assert.equal(sha256(fs.readFileSync(path.join(snapshot, p))), sha256(bytes), p);
  }
  assert.equal(await hub.bytes(), before, 'nothing more fetched from the upstream');
});

test('downloadFile and fileDownloadInfo: plain HTTP, no Xet, the sha256 as the LFS etag',
     DEADLINE, async () => {
  const info = await fileDownloadInfo({ repo: 'org/tiny', path: 'model.safetensors',
                                        hubUrl: modeld.base });
  assert.equal(info.size, files['model.safetensors'].length);
  assert.equal(info.xet, undefined);
  assert.equal(info.etag.replaceAll('"', ''), sha256(files['model.safetensors']));
  const blob = await downloadFile({ repo: 'org/tiny', path: 'gguf/tiny-Q4_K_M.gguf',
                                    hubUrl: modeld.base });
  const buf = Buffer.from(await blob.arrayBuffer());
  assert.equal(sha256(buf), sha256(files['gguf/tiny-Q4_K_M.gguf']));
  const missing = await downloadFile({ repo: 'org/tiny', path: 'absent.bin', hubUrl: modeld.base });
  assert.equal(missing, null, 'EntryNotFound reads as "no such file"');
});

test('listFiles follows the mirror\'s pages; refusals carry X-Error-Code', DEADLINE, async () => {
  const seen = [];
  for await (const e of listFiles({ repo: 'org/tiny', recursive: true, hubUrl: modeld.base })) {
    seen.push(e.path);
  }
  for (const p of Object.keys(files)) assert.ok(seen.includes(p), `${p} in ${seen.join(' ')}`);
  assert.ok(seen.includes('gguf') && seen.includes('tokenizer'), 'directories are listed');
  const r = await request(`${modeld.base}/api/models/org/absent`);
  assert.equal(r.status, 404);
  assert.equal(r.headers.get('x-error-code'), 'RepoNotFound');
  // The Xet token routes do not exist on a mirror.
  const xet = await request(`${modeld.base}/api/models/org/tiny/xet-read-token/main`);
  assert.equal(xet.status, 404);
});
