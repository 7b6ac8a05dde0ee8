// Helpers for the browser tests: a real `modeld serve`, a file origin it downloads from,
// page servers for other origins, Debian's Chromium driven by playwright-core, and direct
// (non-browser) requests to check modeld's state. No fixed ports, no sleeps: every wait is
// on an event, or a poll of a condition with a deadline.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const MODELD = process.env.MODELD_BIN || path.resolve(here, '../../build/modeld');
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

export function tmpdir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// Options of `modeld serve` this build knows (the SSRF switch is passed once it exists).
let serveHelp;
export function serveSupports(flag) {
  serveHelp ??= spawnSync(MODELD, ['serve', '--help'], { encoding: 'utf8' }).stdout || '';
  return serveHelp.includes(flag);
}

// Starts `modeld serve --listen 127.0.0.1:0` on a fresh data dir; resolves once it says
// "listening on ...", with the port it bound. stderr is kept (see .stderr()).
// |dataDir| and |port| restart a server over the same store at the same address (the data
// dir is then the caller's to remove: stop() keeps it).
export async function startModeld({ args = [], env = {}, logLevel = 'warn', dataDir: reuse, port: fixed } = {}) {
  const dataDir = reuse || tmpdir('modeld-browser-data-');
  const extra = serveSupports('--allow-private-upstreams') ? ['--allow-private-upstreams'] : [];
  const childEnv = { ...process.env, MODELD_HOME: dataDir, HF_HUB_CACHE: path.join(dataDir, 'hf'),
                     MODELD_ALLOW_PRIVATE_UPSTREAMS: '1', ...env };
  if (!('MODELD_TOKEN' in env)) delete childEnv.MODELD_TOKEN;
  const argv = ['--data-dir', dataDir, '--log-level', logLevel, 'serve', '--listen', `127.0.0.1:${fixed || 0}`,
                ...extra, ...args];
  const proc = spawn(MODELD, argv, { env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const port = await new Promise((resolve, reject) => {
    const fail = (e) => { if (!reuse) fs.rmSync(dataDir, { recursive: true, force: true }); reject(e); };
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      stderr += chunk;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(stderr);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', (code, sig) =>
      fail(new Error(`modeld serve ${argv.join(' ')} exited (${code ?? sig}) before listening:\n${stderr}`)));
    proc.on('error', fail);
  });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  return {
    port, dataDir, proc,
    origin: `http://127.0.0.1:${port}`,
    stderr: () => stderr,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
      if (!reuse) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// A direct request to modeld (node:http, so no Origin unless given). Resolves
// {status, headers, text, json}.
// With |headersOnly| (for streams) it resolves at the status line and hangs up.
export function request(port, method, target, { body, headers = {}, host, headersOnly = false } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (host) h.Host = host;
    let data = body;
    if (body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body)) {
      data = JSON.stringify(body);
      h['Content-Type'] ??= 'application/json';
    }
    if (data !== undefined) h['Content-Length'] = Buffer.byteLength(data);
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers: h, agent: false },
      (res) => {
        if (headersOnly && res.statusCode === 200) {
          res.destroy();
          resolve({ status: res.statusCode, headers: res.headers, text: '', json: null });
          return;
        }
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => { text += c; });
        res.on('end', () => {
          let json = null;
          try { json = JSON.parse(text); } catch { /* not JSON */ }
          resolve({ status: res.statusCode, headers: res.headers, text, json });
        });
      });
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

// Polls |fn| (async, returns a truthy value when done) until it does or |ms| pass.
export async function until(what, fn, ms = 30000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 50));  // polling interval, not a synchronisation
  }
}

// A file origin on 127.0.0.1:0 for modeld to download from. /files/NAME serves a registered
// buffer (Range, HEAD, ETag); /trickle/NAME serves a large file 1 KiB per 100 ms per
// connection, so a job stays running for as long as a test needs; /stall/NAME sends 64 KiB
// of a large file and then nothing (no ranges). Every request is logged.
export async function startOrigin() {
  const files = new Map();
  const log = [];
  const TRICKLE_SIZE = 256 * 1024 * 1024;
  const server = http.createServer((req, res) => {
    log.push({ method: req.method, url: req.url });
    const m = /^\/(files|trickle|stall)\/([^?]+)/.exec(req.url);
    const trickle = m && m[1] === 'trickle';
    if (m && m[1] === 'stall') {  // 64 KiB of a 64 MiB file, then nothing until the client goes
      const size = 64 * 1024 * 1024;
      res.writeHead(200, { 'Content-Length': size, 'Content-Type': 'application/octet-stream' });
      if (req.method === 'HEAD') { res.end(); return; }
      res.write(Buffer.alloc(64 * 1024));
      return;
    }
    const size = trickle ? TRICKLE_SIZE : m && files.has(m[2]) ? files.get(m[2]).length : -1;
    if (size < 0) { res.writeHead(404).end('not found'); return; }
    let first = 0, last = size - 1, status = 200;
    const r = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range || '');
    if (r && r[1] !== '') {
      first = Number(r[1]);
      if (r[2] !== '') last = Math.min(Number(r[2]), size - 1);
      status = 206;
    }
    const headers = { 'Accept-Ranges': 'bytes', ETag: `"${m[1]}-${m[2]}"`, 'Content-Length': last - first + 1,
                      'Content-Type': 'application/octet-stream' };
    if (status === 206) headers['Content-Range'] = `bytes ${first}-${last}/${size}`;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') { res.end(); return; }
    if (!trickle) { res.end(files.get(m[2]).subarray(first, last + 1)); return; }
    let at = first;
    const timer = setInterval(() => {  // throttling the origin, not synchronising the test
      const n = Math.min(1024, last + 1 - at);
      if (n <= 0 || res.destroyed) { clearInterval(timer); res.end(); return; }
      res.write(Buffer.alloc(n));
      at += n;
    }, 100);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  return {
    port,
    // Registers NAME with |size| random bytes (or the Buffer |size|); returns {url, sha256}.
    add(name, size = 64 * 1024) {
      const data = Buffer.isBuffer(size) ? size : crypto.randomBytes(size);
      files.set(name, data);
      return { url: `http://127.0.0.1:${port}/files/${name}`,
               sha256: crypto.createHash('sha256').update(data).digest('hex') };
    },
    trickleUrl: (name) => `http://127.0.0.1:${port}/trickle/${name}`,
    stallUrl: (name) => `http://127.0.0.1:${port}/stall/${name}`,
    hits: (name) => log.filter((e) => e.url.includes(`/${name}`)).length,
    async close() { server.closeAllConnections(); await new Promise((r) => server.close(r)); },
  };
}

// A small GGUF v3 model, as llama.cpp writes them: a llama architecture with a context
// length, a file type (Q4_K_M) and one F32 tensor of |rows| x 64, so modeld's inspection
// has an architecture, a parameter count, a quantization and a context length to show.
export function ggufModel(rows = 1000) {
  const parts = [];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); parts.push(b); };
  const str = (t) => { u64(Buffer.byteLength(t)); parts.push(Buffer.from(t)); };
  const kv = [['general.architecture', 8, 'llama'], ['general.name', 8, 'Dashboard Tiny'],
              ['llama.context_length', 4, 4096], ['llama.embedding_length', 4, 64],
              ['llama.block_count', 4, 2], ['general.file_type', 4, 15]];
  parts.push(Buffer.from('GGUF'));
  u32(3);
  u64(1);  // tensors
  u64(kv.length);
  for (const [k, type, v] of kv) {
    str(k);
    u32(type);  // 8: string, 4: uint32
    if (type === 8) str(v); else u32(v);
  }
  str('token_embd.weight');
  u32(2);
  u64(64);
  u64(rows);
  u32(0);  // F32
  u64(0);  // offset in the data section
  const header = Buffer.concat(parts);
  const pad = (32 - (header.length % 32)) % 32;  // the data section is 32-byte aligned
  return Buffer.concat([header, Buffer.alloc(pad), crypto.randomBytes(rows * 64 * 4)]);
}

// A page server on 127.0.0.1:0: another origin than modeld's. Serves PAGE at every path.
export async function startPageServer() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  return { port, origin: `http://127.0.0.1:${port}`,
           async close() { server.closeAllConnections(); await new Promise((r) => server.close(r)); } };
}

// The page every test loads (from the attacker's server, from an allowed origin, or
// fulfilled by interception at modeld's own origin). Its functions are what a page's
// script can do; each resolves with what the page could observe.
export const PAGE = `<!doctype html>
<meta charset="utf-8"><title>page</title>
<iframe name="sink" id="sink"></iframe>
<script>
window.t = {
  // fetch(); resolves {ok, status, type, body} or {ok: false, error} (a network or CORS
  // error: the page learns nothing).
  async fetch(url, init) {
    try {
      const r = await fetch(url, init);
      let body = null;
      try { body = await r.text(); } catch (e) {}
      return { ok: true, status: r.status, type: r.type, body };
    } catch (e) {
      return { ok: false, error: String(e) };
    }
  },
  // Submits an HTML form into the iframe; resolves when the answer has loaded there.
  form(action, enctype, fields) {
    return new Promise((resolve) => {
      const f = document.createElement('form');
      f.method = 'POST'; f.action = action; f.enctype = enctype; f.target = 'sink';
      for (const [name, value] of fields) {
        const i = document.createElement('input');
        i.type = 'hidden'; i.name = name; i.value = value;
        f.appendChild(i);
      }
      document.body.appendChild(f);
      document.getElementById('sink').addEventListener('load', () => resolve(true), { once: true });
      f.submit();
    });
  },
  // Opens a WebSocket; resolves at the first message, or at close/error. A socket that
  // opens and says nothing is given |ms| (a bound, not a synchronisation).
  ws(url, ms = 5000) {
    return new Promise((resolve) => {
      const out = { opened: false, messages: [], closed: false, error: false };
      let s;
      try { s = new WebSocket(url); } catch (e) { resolve({ ...out, error: String(e) }); return; }
      const done = () => { try { s.close(); } catch (e) {} resolve(out); };
      s.onopen = () => { out.opened = true; };
      s.onmessage = (ev) => { out.messages.push(String(ev.data)); done(); };
      s.onerror = () => { out.error = true; };
      s.onclose = (ev) => { out.closed = true; out.code = ev.code; resolve(out); };
      setTimeout(done, ms);
    });
  },
  // Opens an EventSource; resolves at the first event (any type), or when it fails.
  sse(url, ms = 5000) {
    return new Promise((resolve) => {
      const out = { opened: false, events: [], error: false };
      const es = new EventSource(url);
      const done = () => { es.close(); resolve(out); };
      es.onopen = () => { out.opened = true; };
      for (const type of ['message', 'state', 'progress', 'done']) {
        es.addEventListener(type, (ev) => { out.events.push({ type, data: ev.data }); done(); });
      }
      es.onerror = () => { out.error = true; out.readyState = es.readyState; done(); };
      setTimeout(done, ms);
    });
  },
};
</script>`;

// Debian's Chromium, headless, with a fresh profile. evil.example resolves to 127.0.0.1
// (the DNS rebinding tests); nothing else leaves the machine.
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  const profile = tmpdir('modeld-browser-profile-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--host-resolver-rules=MAP evil.example 127.0.0.1',
           // Chromium's own defences against pages reaching local servers are turned off:
           // the point is that modeld refuses on its own, whatever the browser (older ones,
           // and other browsers, have none). With Local Network Access on, the rebinding
           // page (fulfilled, so of the public address space) cannot reach 127.0.0.1 at all
           // and those tests would pass against any server.
           '--disable-features=LocalNetworkAccessChecks,LocalNetworkAccessChecksWebSockets,' +
             'PrivateNetworkAccessRespectPreflightResults,BlockInsecurePrivateNetworkRequests,' +
             'HttpsUpgrades,HttpsFirstBalancedModeAutoEnable'],
  });
  return {
    context,
    // A new page showing PAGE at |url|: fetched from the network when |fulfil| is false,
    // otherwise the document alone is fulfilled by interception (the page's other requests
    // go to the network for real).
    async open(url, { fulfil = false } = {}) {
      const page = await context.newPage();
      if (fulfil) {
        await page.route((u) => u.href === url,
          (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: PAGE }));
      }
      const res = await page.goto(url);
      if (!res || res.status() !== 200) throw new Error(`could not load ${url}`);
      return page;
    },
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
