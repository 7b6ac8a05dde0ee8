// Issue 16: the dashboard at / in headless Chromium against a real `modeld serve` and a
// local file origin. A person's first meeting with modeld: each main view is written as a
// screenshot under the build directory (build/screenshots/, or $MODELD_SCREENSHOTS).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { MODELD, ggufModel, launchChromium, request, startModeld, startOrigin, tmpdir, until } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SHOTS = process.env.MODELD_SCREENSHOTS || path.resolve(here, '../../build/screenshots');
fs.mkdirSync(SHOTS, { recursive: true });

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

// The dashboard (|url|: modeld's origin, or a view's address) in a new tab at 1280x800;
// page.errors collects script errors.
async function openDashboard(browser, url, { width = 1280, height = 800 } = {}) {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width, height });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // A Content-Security-Policy refusal (an inline style set by a row, say) is a failure.
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation',
      (e) => { throw new Error(`CSP: ${e.violatedDirective} ${e.blockedURI}`); });
  });
  page.errors = errors;
  await page.goto(url.includes('#') ? url : `${url}/`);
  return page;
}

const row = (page, ref) => page.locator('tr.job', { has: page.locator('.model', { hasText: new RegExp(`^${ref}$`) }) });
const jobOf = async (srv, name) => (await request(srv.port, 'GET', '/model-download')).json.downloads
  .find((d) => d.model_name === name);

async function fillForm(page, fields) {
  for (const [label, value] of Object.entries(fields)) await page.getByLabel(label, { exact: true }).fill(value);
  await page.getByRole('button', { name: 'Download', exact: true }).click();
}

describe('the dashboard', () => {
  let srv, origin, browser;
  before(async () => {
    origin = await startOrigin();
    srv = await startModeld({ args: ['--max-downloads', '2'] });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await srv?.stop();
    await origin?.close();
  });

  test('the page and its files come from modeld with a strict policy, and nothing else is loaded', async () => {
    const res = await request(srv.port, 'GET', '/');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/html/);
    assert.match(res.headers['content-security-policy'], /default-src 'none'/);
    assert.match(res.headers['content-security-policy'], /frame-ancestors 'none'/);
    const page = await browser.context.newPage();
    const hosts = new Set();
    page.on('request', (r) => hosts.add(new URL(r.url()).host));
    const violations = [];
    page.on('console', (m) => { if (/Content Security Policy/.test(m.text())) violations.push(m.text()); });
    await page.goto(`${srv.origin}/`);
    await page.locator('#conn[data-state="live"]').waitFor();
    assert.deepEqual([...hosts], [`127.0.0.1:${srv.port}`]);
    assert.deepEqual(violations, []);
    await page.close();
  });

  test('a download from the form reaches 100 % and the model appears in the list', async () => {
    const file = origin.add('form-model.gguf', ggufModel(24 * 1024));  // 6 MiB
    const page = await openDashboard(browser, srv.origin);
    await fillForm(page, { 'Model name': 'form-model', 'Custom URL': file.url, Checksum: `sha256:${file.sha256}` });
    const r = row(page, 'form-model:latest');
    await r.and(page.locator('[data-state="completed"]')).waitFor();
    assert.equal(await r.getByRole('progressbar').getAttribute('aria-valuenow'), '100');
    await r.getByRole('button', { name: 'Show the files of form-model:latest' }).click();
    await page.locator('tr.files-row:not([hidden])', { hasText: 'form-model.gguf' }).waitFor();
    await shot(page, 'downloads');
    const installed = (await request(srv.port, 'GET', '/models/form-model')).json.versions[0];
    assert.equal(installed.files[0].sha256, file.sha256);

    await page.getByRole('link', { name: /Models/ }).click();
    const m = page.locator('tr.model[data-model="form-model:latest"]');
    await m.waitFor();
    // What is inside it, read from the GGUF header at install.
    assert.equal(await m.locator('td[data-label="Architecture"]').textContent(), 'llama');
    assert.equal(await m.locator('td[data-label="Quantization"]').textContent(), 'Q4_K_M');
    assert.equal(await m.locator('td[data-label="Context"]').textContent(), '4,096');
    assert.notEqual(await m.locator('td[data-label="Parameters"]').textContent(), '—');
    await m.getByRole('button', { name: 'Show the files of form-model:latest' }).click();
    await page.locator('.details code', { hasText: file.sha256 }).waitFor();
    await shot(page, 'models');
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('the server\'s refusals are shown beside the field they concern', async () => {
    const page = await openDashboard(browser, srv.origin);
    await fillForm(page, { 'Model name': 'field-test', Version: 'bad version!' });
    await assert.doesNotReject(page.locator('#e-version', { hasText: /version/ }).waitFor());
    assert.equal(await page.getByLabel('Version', { exact: true }).getAttribute('aria-invalid'), 'true');
    await fillForm(page, { 'Model name': 'field-test', Version: '', Checksum: 'sha256:xyz' });
    await page.locator('#e-checksum', { hasText: /checksum/i }).waitFor();
    assert.equal(await page.locator('#e-version').textContent(), '');  // the old error is gone
    // No catalog knows it and no URL is given: the name is what is wrong.
    await fillForm(page, { 'Model name': 'no-such-model-anywhere', Checksum: '' });
    await page.locator('#e-model_name', { hasText: /not found/i }).waitFor();
    // Installed already (the previous test): force_download is the way.
    const file = origin.add('again.bin', 1024);
    await request(srv.port, 'POST', '/model-download?wait=true', { body: { model_name: 'again', download_url: file.url } });
    await fillForm(page, { 'Model name': 'again', 'Custom URL': file.url });
    await page.locator('#e-force_download', { hasText: /already exists/ }).waitFor();
    await shot(page, 'form-errors');
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('pause, resume, cancel and retry from a job\'s row', async () => {
    const page = await openDashboard(browser, srv.origin);
    await fillForm(page, { 'Model name': 'slow-model', 'Custom URL': origin.trickleUrl('slow.bin') });
    const r = row(page, 'slow-model:latest');
    await r.and(page.locator('[data-state="downloading"]')).waitFor();
    await r.getByRole('button', { name: 'Pause slow-model:latest' }).click();
    await r.and(page.locator('[data-state="paused"]')).waitFor();
    assert.equal((await jobOf(srv, 'slow-model')).state, 'paused');
    await r.getByRole('button', { name: 'Resume slow-model:latest' }).click();
    await r.and(page.locator('[data-state="downloading"]')).waitFor();
    assert.ok(['queued', 'resolving', 'downloading'].includes((await jobOf(srv, 'slow-model')).state));
    await r.getByRole('button', { name: 'Cancel slow-model:latest' }).click();
    await r.and(page.locator('[data-state="cancelled"]')).waitFor();
    assert.equal((await jobOf(srv, 'slow-model')).state, 'cancelled');
    await r.getByRole('button', { name: 'Retry slow-model:latest' }).click();
    await r.and(page.locator('[data-state="downloading"]')).waitFor();
    await r.getByRole('button', { name: 'Cancel slow-model:latest' }).click();
    await r.and(page.locator('[data-state="cancelled"]')).waitFor();
    await r.getByRole('button', { name: 'Remove slow-model:latest' }).click();
    await r.waitFor({ state: 'detached' });
    assert.equal(await jobOf(srv, 'slow-model'), undefined);
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('a failed checksum is shown as failed, with its reason', async () => {
    const file = origin.add('corrupt.bin', 256 * 1024);
    const page = await openDashboard(browser, srv.origin);
    await fillForm(page, { 'Model name': 'bad-sum', 'Custom URL': file.url, Checksum: `sha256:${'0'.repeat(64)}` });
    const r = row(page, 'bad-sum:latest');
    await r.and(page.locator('[data-state="failed"]')).waitFor();
    assert.match(await r.locator('.error').textContent(), /checksum mismatch/);
    assert.equal((await request(srv.port, 'GET', '/models/bad-sum')).status, 404);
    await shot(page, 'failed');
    await page.close();
  });

  test('a download with no bytes for seconds says stalled, 0 B/s and an unknown ETA', async () => {
    const page = await openDashboard(browser, srv.origin);
    await fillForm(page, { 'Model name': 'stalling', 'Custom URL': origin.stallUrl('stall.bin') });
    const r = row(page, 'stalling:latest');
    await r.and(page.locator('[data-state="downloading"]')).waitFor();
    await r.and(page.locator('[data-stage="stalled"]')).waitFor({ timeout: 20000 });
    assert.equal(await r.locator('td[data-label="Speed"]').textContent(), '0 B/s');
    assert.equal(await r.locator('td[data-label="ETA"]').textContent(), 'unknown');
    await shot(page, 'stalled');
    await r.getByRole('button', { name: 'Cancel stalling:latest' }).click();
    await r.and(page.locator('[data-state="cancelled"]')).waitFor();
    await page.close();
  });

  test('the queue order and the concurrency limit are shown', async () => {
    const page = await openDashboard(browser, srv.origin);
    for (const n of ['q1', 'q2', 'q3', 'q4']) {
      await request(srv.port, 'POST', '/model-download', { body: { model_name: n, download_url: origin.trickleUrl(`${n}.bin`) } });
    }
    await page.locator('#queue-info', { hasText: 'of at most 2 downloads running · 2 waiting' }).waitFor();
    await row(page, 'q3:latest').and(page.locator('[data-stage="queued · #1"]')).waitFor();
    await row(page, 'q4:latest').and(page.locator('[data-stage="queued · #2"]')).waitFor();
    await shot(page, 'queue');
    for (const n of ['q1', 'q2', 'q3', 'q4']) {
      await request(srv.port, 'DELETE', `/model-download/${(await jobOf(srv, n)).download_id}`);
    }
    await until('the rows to go', async () => (await page.locator('tr.job', { hasText: /q\d:latest/ }).count()) === 0);
    await page.close();
  });

  test('load and unload from the Models view, remove with a confirmation', async () => {
    const file = origin.add('loadable.bin', 512 * 1024);
    await request(srv.port, 'POST', '/model-download?wait=true', { body: { model_name: 'loadable', download_url: file.url } });
    const page = await openDashboard(browser, `${srv.origin}`);
    await page.getByRole('link', { name: /Models/ }).click();
    const m = page.locator('tr.model[data-model="loadable:latest"]');
    await m.getByRole('button', { name: 'Load loadable:latest' }).click();
    await page.locator('tr.model[data-model="loadable:latest"][data-status="loaded"]').waitFor();
    const loaded = (await request(srv.port, 'GET', '/loaded')).json.models.map((x) => x.ref);
    assert.deepEqual(loaded, ['loadable:latest']);
    await shot(page, 'models-loaded');
    await m.getByRole('button', { name: 'Unload loadable:latest' }).click();
    await page.locator('tr.model[data-model="loadable:latest"][data-status="available"]').waitFor();
    assert.deepEqual((await request(srv.port, 'GET', '/loaded')).json.models, []);
    // Remove asks first; Cancel keeps the model.
    await m.getByRole('button', { name: 'Remove loadable:latest' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await request(srv.port, 'GET', '/models/loadable')).status, 200);
    await m.getByRole('button', { name: 'Remove loadable:latest' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
    await m.waitFor({ state: 'detached' });
    assert.equal((await request(srv.port, 'GET', '/models/loadable')).status, 404);
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('the Disk view: store, free space, per model, partial downloads deleted, gc', async () => {
    await request(srv.port, 'POST', '/model-download', { body: { model_name: 'partial-one', download_url: origin.trickleUrl('p1.bin') } });
    await until('bytes of partial-one', async () => (await jobOf(srv, 'partial-one'))?.progress?.downloaded_bytes > 0);
    await request(srv.port, 'POST', `/model-download/${(await jobOf(srv, 'partial-one')).download_id}/pause`);
    await until('partial-one paused', async () => (await jobOf(srv, 'partial-one')).state === 'paused');
    const page = await openDashboard(browser, `${srv.origin}/#disk`);
    await page.locator('.stat', { hasText: 'Free space' }).waitFor();
    await page.locator('#disk-models li', { hasText: 'form-model:latest' }).waitFor();
    await page.getByRole('button', { name: 'Delete the partial download of partial-one:latest' }).waitFor();
    await shot(page, 'disk');
    await page.getByRole('button', { name: 'Delete the partial download of partial-one:latest' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('button', { name: 'Delete the partial download of partial-one:latest' }).waitFor({ state: 'detached' });
    assert.equal(await jobOf(srv, 'partial-one'), undefined);
    await page.getByRole('button', { name: 'Clean up unused files…' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Clean up' }).click();
    await page.locator('#gc-result', { hasText: /^Freed / }).waitFor();
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('every control has a label, and a download can be started with the keyboard alone', async () => {
    const page = await openDashboard(browser, srv.origin);
    await page.locator('#conn[data-state="live"]').waitFor();
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
      .filter((e) => !(e.labels?.length || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') ||
                       (e.tagName === 'BUTTON' && e.textContent.trim())))
      .map((e) => e.outerHTML));
    assert.deepEqual(unlabelled, []);
    const file = origin.add('keyboard.bin', 64 * 1024);
    let guard = 0;
    while (await page.evaluate(() => document.activeElement?.id) !== 'f-model_name' && guard++ < 30) await page.keyboard.press('Tab');
    await page.keyboard.type('keyboard-model');
    while (await page.evaluate(() => document.activeElement?.id) !== 'f-download_url' && guard++ < 60) await page.keyboard.press('Tab');
    await page.keyboard.type(file.url);
    await page.keyboard.press('Enter');
    await row(page, 'keyboard-model:latest').and(page.locator('[data-state="completed"]')).waitFor();
    // Focus stays on a row's button while the row updates: expand, then a few renders.
    const toggle = row(page, 'keyboard-model:latest').getByRole('button', { name: /files of keyboard-model:latest/ });
    await toggle.focus();
    await page.keyboard.press('Enter');
    await row(page, 'keyboard-model:latest').getByRole('button', { name: 'Hide the files of keyboard-model:latest' }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')),
                 'Hide the files of keyboard-model:latest');
    // Forgotten elsewhere (another client's DELETE): the row goes, pushed over the socket.
    await request(srv.port, 'DELETE', `/model-download/${(await jobOf(srv, 'keyboard-model')).download_id}`);
    await row(page, 'keyboard-model:latest').waitFor({ state: 'detached' });
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('reads well at a phone\'s width: nothing wider than the screen', async () => {
    const page = await openDashboard(browser, srv.origin, { width: 390, height: 844 });
    await page.locator('#conn[data-state="live"]').waitFor();
    await row(page, 'form-model:latest').waitFor();
    for (const view of ['downloads', 'models', 'catalog', 'disk']) {
      await page.goto(`${srv.origin}/#${view}`);
      await page.locator(`#view-${view}:not([hidden])`).waitFor();
      await page.locator('#conn[data-state="live"]').waitFor();
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(wide <= 390, `${view} is ${wide}px wide`);
      await shot(page, `phone-${view}`);
    }
    await page.close();
  });
});

describe('the dashboard across a restart, with a token, and the catalog', () => {
  test('a page left open reconnects after the server restarts and shows what the server has now', async () => {
    const origin = await startOrigin();
    const dataDir = tmpdir('modeld-browser-restart-');
    let srv = await startModeld({ dataDir });
    const { port } = srv;
    const browser = await launchChromium();
    try {
      const file = origin.add('before.bin', 64 * 1024);
      await request(port, 'POST', '/model-download?wait=true', { body: { model_name: 'before', download_url: file.url } });
      const page = await openDashboard(browser, srv.origin);
      await row(page, 'before:latest').waitFor();
      const id = (await jobOf(srv, 'before')).download_id;
      await srv.stop();
      await page.locator('#conn[data-state="lost"]').waitFor();
      await page.getByRole('alert').filter({ hasText: 'Connection to modeld lost' }).waitFor();
      await shot(page, 'reconnecting');
      // While no server runs, the CLI forgets the job and removes the model.
      for (const argv of [['jobs', 'rm', id], ['rm', 'before:latest']]) {
        const r = spawnSync(MODELD, ['--data-dir', dataDir, ...argv], { encoding: 'utf8',
          env: { ...process.env, MODELD_HOME: dataDir, MODELD_URL: 'http://127.0.0.1:9' } });
        assert.equal(r.status, 0, `modeld ${argv.join(' ')}: ${r.stderr}`);
      }
      srv = await startModeld({ dataDir, port });
      await page.locator('#conn[data-state="live"]').waitFor({ timeout: 20000 });
      // What the page shows is what the new server has: neither the job nor the model.
      await row(page, 'before:latest').waitFor({ state: 'detached' });
      await page.getByRole('link', { name: /Models/ }).click();
      await page.locator('#models-empty:not([hidden])').waitFor();
      await page.getByRole('link', { name: /Downloads/ }).click();
      const after = origin.add('after.bin', 64 * 1024);
      await request(port, 'POST', '/model-download', { body: { model_name: 'after', download_url: after.url } });
      await row(page, 'after:latest').and(page.locator('[data-state="completed"]')).waitFor();
      assert.deepEqual(page.errors, []);
    } finally {
      await browser.close();
      await srv.stop();
      await origin.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('a token-protected server asks for the token once and keeps it for the tab', async () => {
    const srv = await startModeld({ args: ['--token', 'sesame-1234'], logLevel: 'info' });
    const browser = await launchChromium();
    try {
      const page = await openDashboard(browser, srv.origin);
      const dialog = page.getByRole('dialog', { name: 'This server needs a token' });
      await dialog.waitFor();
      await shot(page, 'token');
      await dialog.getByLabel('Access token').fill('wrong');
      await dialog.getByRole('button', { name: 'Use token' }).click();
      await dialog.locator('#token-error', { hasText: 'refused' }).waitFor();
      await dialog.getByLabel('Access token').fill('sesame-1234');
      await dialog.getByRole('button', { name: 'Use token' }).click();
      await page.locator('#conn[data-state="live"]').waitFor();
      await page.reload();
      await page.locator('#conn[data-state="live"]').waitFor();
      assert.equal(await dialog.isVisible(), false);
      assert.doesNotMatch(srv.stderr(), /sesame-1234/);
      assert.deepEqual(page.errors, []);
    } finally {
      await browser.close();
      await srv.stop();
    }
  });

  test('the catalog is searched and a model downloaded with one click', async () => {
    const origin = await startOrigin();
    const file = origin.add('cat.bin', 128 * 1024);
    const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'modeld-catalog-'));
    const catalog = path.join(dir, 'lab.json');
    fs.writeFileSync(catalog, JSON.stringify({ name: 'lab', models: [
      { name: 'lab-tagger', description: 'A tagger for the lab', tags: ['text'], latest: '1',
        versions: [{ version: '1', files: [{ url: file.url, size: 128 * 1024, sha256: file.sha256 }] }] }] }));
    const srv = await startModeld({ args: ['--catalog', catalog] });
    const browser = await launchChromium();
    try {
      const page = await openDashboard(browser, `${srv.origin}/#catalog`);
      await page.getByLabel('Search the catalogs').fill('tagger');
      await page.getByRole('button', { name: 'Search' }).click();
      const r = page.locator('tr[data-catalog="lab-tagger:1"]');
      await r.waitFor();
      assert.equal(await page.locator('#catalog-body tr').count(), 1);
      await shot(page, 'catalog');
      await r.getByRole('button', { name: 'Download lab-tagger:1' }).click();
      await r.getByRole('button', { name: 'Download lab-tagger:1' }).filter({ hasText: 'Started' }).waitFor();
      await until('lab-tagger installed', async () => (await request(srv.port, 'GET', '/models/lab-tagger')).status === 200);
      assert.deepEqual(page.errors, []);
    } finally {
      await browser.close();
      await srv.stop();
      await origin.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
