// Helpers for the client tests that drive a real `modeld serve`: the server (on port 0, in a
// scratch data dir, stopped and restarted on the same data dir), a test origin it downloads
// from, and a watcher of a WebSocket's JSON frames. No fixed ports, no sleeps: every wait is
// on an event (process output, a frame, an answer, an exit) and has a deadline, and fails
// with a message saying what it waited for.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
export const MODELD = process.env.MODELD_BIN || path.resolve(here, '../../../build/modeld');

// Resolves |promise|, or rejects after |ms| with "timed out after Nms waiting for WHAT".
export function withDeadline(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

// `modeld serve --listen 127.0.0.1:0` over |dataDir| (a fresh temporary one by default),
// with MODELD_ALLOW_PRIVATE_UPSTREAMS=1 so it may download from the test origin on
// 127.0.0.1. Resolves once modeld has said "modeld <version> listening on <addr>", with:
//   port, base ("http://127.0.0.1:PORT"), dataDir, stderr() (everything it wrote),
//   stop()    SIGTERM, resolves once it has exited; throws (with its stderr) if it had
//             already exited on its own, or exits with another status than 0,
//   restart() stop(), then the same command over the same data dir (port and base change),
//   close()   stop() and remove the data dir (when this helper made it).
export async function startModeld({ dataDir, args = [], env = {}, logLevel = 'warn',
                                    startMs = 30000 } = {}) {
  const ownsDir = !dataDir;
  dataDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'modeld-clients-data-'));
  const server = {
    dataDir, port: 0, base: '', proc: null, log: '',
    stderr() { return this.log; },
    async stop({ ms = 15000 } = {}) {
      const proc = this.proc;
      if (!proc) return;
      this.proc = null;
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`modeld exited on its own (${proc.exitCode ?? proc.signalCode}) before ` +
                        `the test stopped it. Its stderr:\n${this.log}`);
      }
      const exited = new Promise((resolve) =>
        proc.once('exit', (code, signal) => resolve({ code, signal })));
      proc.kill('SIGTERM');
      let end;
      try {
        end = await withDeadline(exited, ms, `modeld (pid ${proc.pid}) to exit after SIGTERM`);
      } catch (e) {
        proc.kill('SIGKILL');
        throw new Error(`${e.message}; killed it. Its stderr:\n${this.log}`);
      }
      if (end.code !== 0) {
        throw new Error(`modeld exited with ${end.code ?? end.signal} after SIGTERM. Its stderr:\n` +
                        this.log);
      }
    },
    async restart() {
      await this.stop();
      await launch();
      return this;
    },
    async close() {
      try {
        await this.stop();
      } finally {
        if (ownsDir) fs.rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
  const argv = ['--data-dir', dataDir, '--log-level', logLevel, 'serve', '--listen', '127.0.0.1:0',
                ...args];
  // The Hub's cache and Ollama's directory in the data dir: never the user's own.
  const childEnv = { ...process.env, MODELD_HOME: dataDir, HF_HUB_CACHE: path.join(dataDir, 'hf'),
                     OLLAMA_MODELS: path.join(dataDir, 'ollama'),
                     MODELD_ALLOW_PRIVATE_UPSTREAMS: '1', ...env };
  if (!('MODELD_TOKEN' in env)) delete childEnv.MODELD_TOKEN;

  async function launch() {
    const proc = spawn(MODELD, argv, { env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    server.proc = proc;
    server.log += `--- modeld ${argv.join(' ')}\n`;
    proc.stderr.setEncoding('utf8');
    const listening = new Promise((resolve, reject) => {
      let seen = '';
      proc.stderr.on('data', (chunk) => {
        server.log += chunk;
        seen += chunk;
        const m = /modeld \S+ listening on 127\.0\.0\.1:(\d+)/.exec(seen);
        if (m) resolve(Number(m[1]));
      });
      proc.once('exit', (code, sig) =>
        reject(new Error(`modeld exited (${code ?? sig}) before listening:\n${server.log}`)));
      proc.once('error', (e) => reject(new Error(`could not start ${MODELD}: ${e.message}`)));
    });
    try {
      server.port = await withDeadline(listening, startMs, 'modeld to say "listening on"');
    } catch (e) {
      proc.kill('SIGKILL');
      server.proc = null;
      throw new Error(`${e.message}. Its stderr:\n${server.log}`);
    }
    server.base = `http://127.0.0.1:${server.port}`;
  }

  try {
    await launch();
  } catch (e) {
    if (ownsDir) fs.rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  return server;
}

// The Ollama registry mimic (tests/origin/ollama_mimic.h, as the binary
// build/tests/origin/modeld_ollama_mimic, or $MODELD_OLLAMA_MIMIC) serving |config|:
//   {models: [{name: "library/tiny", tags: ["latest"], private_token?, config?,
//              layers: [{mediaType, file | text}]}], rate?: blob bytes/s per connection}
// Resolves {registry, blobs (its base URLs), bytes() (blob bytes served so far), close()}.
export const OLLAMA_MIMIC = process.env.MODELD_OLLAMA_MIMIC ||
  path.resolve(here, '../../../build/tests/origin/modeld_ollama_mimic');
export async function startOllamaMimic(config) {
  const m = await startMimic(OLLAMA_MIMIC, config, 'the Ollama mimic');
  return { ...m, bytes: async () => (await request(`${m.registry}/_ctl/bytes`)).json.bytes };
}

// The Hub mimic (tests/origin/hub_mimic_main.cc) as a process, configured with |config|
// (its REPOS.json); resolves {api, cdn, bytes(), close()}: bytes() is what both of its
// origins have sent so far.
export const HUB_MIMIC = process.env.MODELD_HUB_MIMIC ||
  path.resolve(here, '../../../build/tests/origin/modeld_hub_mimic');
export async function startHubMimic(config) {
  const m = await startMimic(HUB_MIMIC, config, 'the Hub mimic');
  return { ...m, bytes: async () => (await request(`${m.api}/_ctl/bytes`)).json.bytes };
}

// Starts a mimic binary with |config| written to a file; resolves the JSON line it prints
// (where it listens) with close().
async function startMimic(binary, config, what) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modeld-mimic-'));
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(config));
  const proc = spawn(binary, [file], { stdio: ['pipe', 'pipe', 'inherit'] });
  const ready = new Promise((resolve, reject) => {
    let seen = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk) => {
      seen += chunk;
      const nl = seen.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(seen.slice(0, nl)));
    });
    proc.once('exit', (code, sig) => reject(new Error(`${what} exited (${code ?? sig})`)));
    proc.once('error', (e) => reject(new Error(`could not start ${binary}: ${e.message}`)));
  });
  const urls = await withDeadline(ready, 15000, `${what} to say where it listens`);
  return {
    ...urls,
    async close() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.stdin.end();
        proc.kill('SIGTERM');
        await withDeadline(exited, 15000, `${what} to exit`);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// A request to modeld or anything else with Node's fetch; resolves {status, headers, text,
// json} (json null when the body is not JSON). |body| objects are sent as JSON.
export async function request(url, { method = 'GET', body, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['Content-Type'] ??= 'application/json';
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

// Deterministic pseudo-random bytes: AES-128-CTR of zeros under a key derived from |seed|.
export function generatedBytes(seed, size) {
  const key = crypto.createHash('sha256').update(String(seed)).digest().subarray(0, 16);
  const cipher = crypto.createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

// A file origin on 127.0.0.1:0 for modeld to download from.
//   /files/NAME  the registered bytes at full speed;
//   /slow/NAME   the same bytes throttled: 64 KiB per 50 ms for all of NAME's connections
//                together (modeld splits a download over several), so a 4 MiB file takes
//                about 3 s and a test can act on it mid-way; release(NAME) lifts it.
// Both answer HEAD and Range (206 with Content-Range, 416 past the end, If-Range against
// the ETag) with Content-Length, Accept-Ranges and an ETag. Every request is logged.
export async function startOrigin() {
  const files = new Map();  // name -> {data, released, active: Set of pending slow writers}
  const log = [];
  const SLICE = 64 * 1024;
  const TICK_MS = 50;
  let ticker = null;

  // One ticker shares SLICE bytes per tick among the slow responses in flight.
  function tick() {
    const active = [];
    for (const f of files.values()) for (const w of f.active) active.push(w);
    if (active.length === 0) { clearInterval(ticker); ticker = null; return; }
    const byFile = new Map();
    for (const w of active) byFile.set(w.file, (byFile.get(w.file) || 0) + 1);
    for (const w of active) w.pump(Math.ceil(SLICE / byFile.get(w.file)));
  }

  const server = http.createServer((req, res) => {
    log.push({ method: req.method, url: req.url, range: req.headers.range });
    const m = /^\/(files|slow)\/([^/?]+)$/.exec(req.url);
    const file = m && files.get(decodeURIComponent(m[2]));
    if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    const size = file.data.length;
    const etag = `"${file.sha256.slice(0, 16)}"`;
    let first = 0;
    let last = size - 1;
    let status = 200;
    const range = req.headers.range;
    const ifRange = req.headers['if-range'];
    if (range && (!ifRange || ifRange === etag)) {
      const r = /^bytes=(\d*)-(\d*)$/.exec(range);
      if (r && (r[1] !== '' || r[2] !== '')) {
        if (r[1] === '') {  // suffix: the last N bytes
          first = Math.max(0, size - Number(r[2]));
        } else {
          first = Number(r[1]);
          if (r[2] !== '') last = Math.min(Number(r[2]), size - 1);
        }
        if (first >= size || first > last) {
          res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
          return;
        }
        status = 206;
      }
    }
    const headers = { 'Accept-Ranges': 'bytes', ETag: etag, 'Content-Length': last - first + 1,
                      'Content-Type': 'application/octet-stream' };
    if (status === 206) headers['Content-Range'] = `bytes ${first}-${last}/${size}`;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') { res.end(); return; }
    const body = file.data.subarray(first, last + 1);
    if (m[1] === 'files' || file.released) { res.end(body); return; }

    let at = 0;
    const writer = {
      file,
      pump(n) {  // sends up to n more bytes (all of them once the file is released)
        if (res.destroyed) { file.active.delete(writer); return; }
        const end = file.released ? body.length : Math.min(body.length, at + n);
        if (end > at) res.write(body.subarray(at, end));
        at = end;
        if (at >= body.length) { file.active.delete(writer); res.end(); }
      },
    };
    file.active.add(writer);
    res.on('close', () => file.active.delete(writer));
    ticker ??= setInterval(tick, TICK_MS);  // throttling the origin, not synchronising a test
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  const origin = `http://127.0.0.1:${port}`;
  return {
    port, origin, log,
    // Registers NAME (a file name: it becomes the installed file's name) with |size|
    // generated bytes; returns {name, size, sha256, data, url, slowUrl}.
    add(name, size = 4 * 1024 * 1024) {
      const data = generatedBytes(name, size);
      const sha256 = crypto.createHash('sha256').update(data).digest('hex');
      files.set(name, { data, sha256, released: false, active: new Set() });
      const p = encodeURIComponent(name);
      return { name, size, sha256, data, url: `${origin}/files/${p}`, slowUrl: `${origin}/slow/${p}` };
    },
    // Lets /slow/NAME go at full speed from now on, the responses in flight included.
    release(name) {
      const f = files.get(name);
      f.released = true;
      for (const w of [...f.active]) w.pump(Infinity);
    },
    // How many GET requests (HEAD excluded) NAME has had, on either path.
    gets(name) {
      const p = encodeURIComponent(name);
      return log.filter((e) => e.method === 'GET' && e.url.endsWith(`/${p}`)).length;
    },
    async close() {
      clearInterval(ticker);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// A WebSocket whose text frames are JSON. Resolves once the upgrade succeeded (rejects if it
// did not: status and body in the message). Frames are kept in order in |frames| (parsed,
// or {unparsable: text}); next(pred, what) waits for the first frame from the cursor on that
// matches, moving the cursor past it; closed resolves with {code, reason} when the socket
// ends. Sends nothing (as the Pieces clients do).
export async function openJsonSocket(url, { ms = 15000 } = {}) {
  const ws = new WebSocket(url);
  const frames = [];
  const waiters = [];
  let closeInfo = null;
  let cursor = 0;
  const closed = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      closeInfo = { code, reason: String(reason) };
      for (const w of waiters.splice(0)) w.check();
      resolve(closeInfo);
    });
  });
  ws.on('message', (data, isBinary) => {
    const text = String(data);
    let frame;
    try { frame = isBinary ? { binary: text } : JSON.parse(text); } catch { frame = { unparsable: text }; }
    frames.push(frame);
    for (const w of [...waiters]) w.check();
  });
  const opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => reject(new Error(`WebSocket ${url} refused: HTTP ${res.statusCode} ${body}`)));
    });
    ws.once('error', (e) => reject(new Error(`WebSocket ${url}: ${e.message}`)));
  });
  try {
    await withDeadline(opened, ms, `the WebSocket upgrade of ${url}`);
  } catch (e) {
    ws.terminate();
    throw e;
  }
  ws.on('error', () => {});  // after the upgrade, an error is followed by 'close'

  return {
    ws, frames, closed,
    // Waits up to |waitMs| for a frame matching |pred| at or after the cursor; resolves with
    // it and moves the cursor past it. Rejects if the socket closes first.
    next(pred, what, waitMs = 30000) {
      return new Promise((resolve, reject) => {
        const w = {
          check() {
            for (; cursor < frames.length; cursor++) {
              if (pred(frames[cursor])) {
                done();
                resolve(frames[cursor++]);
                return;
              }
            }
            if (closeInfo) {
              done();
              reject(new Error(`${url} closed (${closeInfo.code}) before ${what}; frames: ` +
                               JSON.stringify(frames)));
            }
          },
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${waitMs} ms waiting for ${what} on ${url}; ` +
                           `frames: ${JSON.stringify(frames)}`));
        }, waitMs);
        function done() {
          clearTimeout(timer);
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
        }
        waiters.push(w);
        w.check();
      });
    },
    // Closes from our side and waits for the close to complete.
    async close() {
      if (!closeInfo) ws.close(1000);
      await withDeadline(closed, 10000, `${url} to close`);
    },
  };
}
