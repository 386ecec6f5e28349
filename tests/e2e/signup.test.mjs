// Browser end-to-end test of the spine's promise: a new user signs up in
// headless Chromium, reaches the new studio's site, signs in as its owner
// and sees the staff app. Starts its own studiod on a free port; needs
// STUDIOD_BIN, STUDIOD_DATABASE_URL (migrated), STUDIOD_HOME and SMTP_URL
// (scripts/test sets them). Uses Debian's /usr/bin/chromium; never downloads
// a browser.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RESULTS = path.join(HERE, 'test-results');
const CHROMIUM = process.env.STUDIOD_CHROMIUM || '/usr/bin/chromium';
const STEP_MS = 30_000; // every browser step
const HEALTH_MS = 15_000; // studiod up and healthy
const STOP_MS = 15_000; // studiod gone after SIGTERM
const TEST_MS = 180_000; // a whole test, as a last resort

const PHONE = { width: 375, height: 667 };

// A port nothing listens on right now (the kernel picks it).
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function randomDigits(n) {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(Math.random() * 10);
  return s;
}

describe('signup to staff app in a browser', { timeout: TEST_MS * 4 }, () => {
  let port;
  let server; // the studiod child process
  let serverExit; // Promise<{code, signal}>
  let serverLog = ''; // last part of its output, for failure messages
  let profileDir;
  let context;
  const problems = []; // console errors and uncaught page errors
  // Console errors a step provokes on purpose: Chromium logs any 4xx answer
  // to a navigation ("Failed to load resource: ... status of 401"), and a
  // wrong password is answered 401 by design. Each entry: {url, statuses}.
  const expectedHttpErrors = [];
  let pagesLoaded = 0;

  const owner = {
    studioName: `Écho & Lumière ${randomDigits(4)}`,
    slug: `e2e${randomDigits(8)}`,
    name: 'Zoë Martin-Ødegaard',
    password: `pw-${randomDigits(6)}-correct horse`,
    timezone: 'Europe/Paris',
    currency: 'EUR',
  };
  owner.email = `owner+${owner.slug}@example.test`;

  const logTail = () => serverLog.slice(-4000);
  const base = () => `http://localhost:${port}`;
  const studioOrigin = () => `http://${owner.slug}.localhost:${port}`;

  async function waitHealthy() {
    const url = `http://127.0.0.1:${port}/healthz`;
    const deadline = Date.now() + HEALTH_MS;
    let last = 'no answer';
    let exited = null;
    serverExit.then((e) => { exited = e; });
    while (Date.now() < deadline) {
      if (exited) {
        throw new Error(`studiod exited before it was healthy (code ${exited.code}, ` +
          `signal ${exited.signal})\n${logTail()}`);
      }
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = String(err.cause?.code || err.message);
      }
      await delay(100); // poll interval, bounded by the deadline above
    }
    throw new Error(`studiod not healthy at ${url} within ${HEALTH_MS} ms (last: ${last})\n${logTail()}`);
  }


  // Waits until the page's URL satisfies pred; if it does not within
  // STEP_MS, fails saying where the page is and what it shows instead.
  async function waitForPage(page, pred, what) {
    try {
      await page.waitForURL(pred);
    } catch (err) {
      let shown = '';
      try {
        shown = (await page.locator('body').innerText({ timeout: 2000 })).slice(0, 800);
      } catch { /* the page may be gone */ }
      throw new Error(`expected ${what}, but the page is ${page.url()} (${err.message.split('\n')[0]})\n` +
        `it shows:\n${shown}\npage errors so far:\n${problems.join('\n') || '(none)'}\n` +
        `studiod log:\n${logTail()}`);
    }
  }

  async function newPage(viewport) {
    const page = await context.newPage();
    if (viewport) await page.setViewportSize(viewport);
    page.on('load', () => { pagesLoaded += 1; });
    return page;
  }

  before(async () => {
    for (const name of ['STUDIOD_BIN', 'STUDIOD_DATABASE_URL']) {
      assert.ok(process.env[name], `${name} must be set (scripts/test sets it)`);
    }
    await mkdir(RESULTS, { recursive: true });

    port = await freePort();
    const logFile = createWriteStream(path.join(RESULTS, 'studiod.log'));
    server = spawn(process.env.STUDIOD_BIN, ['serve'], {
      env: { ...process.env, STUDIOD_PORT: String(port), STUDIOD_BASE_DOMAIN: 'localhost' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    serverExit = new Promise((resolve) => {
      server.on('exit', (code, signal) => resolve({ code, signal }));
      server.on('error', (err) => {
        serverLog += `\nspawn failed: ${err.message}\n`;
        resolve({ code: null, signal: null, error: err });
      });
    });
    for (const stream of [server.stdout, server.stderr]) {
      stream.on('data', (chunk) => {
        logFile.write(chunk);
        serverLog = (serverLog + chunk.toString()).slice(-20_000);
      });
    }
    server.on('exit', () => logFile.end());
    await waitHealthy();

    profileDir = await mkdtemp(path.join(os.tmpdir(), 'studiod-e2e-chromium-'));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: STEP_MS,
    });
    context.setDefaultTimeout(STEP_MS);
    context.setDefaultNavigationTimeout(STEP_MS);
    context.on('console', (msg) => {
      if (msg.type() === 'error') {
        const loc = msg.location();
        const status = /^Failed to load resource: the server responded with a status of (\d+)/
          .exec(msg.text())?.[1];
        if (status && expectedHttpErrors.some((e) => e.url === loc?.url &&
            e.statuses.includes(Number(status)))) {
          return;
        }
        problems.push(`console error on ${msg.page()?.url()}: ${msg.text()}` +
          (loc?.url ? ` (${loc.url}:${loc.lineNumber})` : ''));
      }
    });
    context.on('weberror', (err) => {
      problems.push(`page error on ${err.page()?.url()}: ${err.error().stack || err.error()}`);
    });
    // The persistent context opens with one blank page; tests open their own.
    for (const p of context.pages()) await p.close();
  });

  after(async () => {
    if (context) await context.close().catch(() => {});
    if (profileDir) await rm(profileDir, { recursive: true, force: true });
    if (!server || server.exitCode !== null || server.signalCode !== null) {
      if (server) {
        const e = await serverExit;
        assert.fail(`studiod had already exited (code ${e.code}, signal ${e.signal})\n${logTail()}`);
      }
      return;
    }
    server.kill('SIGTERM');
    const timer = new AbortController();
    const stopped = await Promise.race([
      serverExit,
      delay(STOP_MS, null, { signal: timer.signal }).catch(() => null),
    ]);
    timer.abort(); // no timer left to hold the process
    if (!stopped) {
      server.kill('SIGKILL');
      await serverExit;
      assert.fail(`studiod did not stop within ${STOP_MS} ms of SIGTERM\n${logTail()}`);
    }
    assert.deepEqual(stopped, { code: 0, signal: null },
      `studiod should exit with code 0 on SIGTERM\n${logTail()}`);
  });

  test('the signup form is usable on a phone (375x667)', { timeout: TEST_MS }, async () => {
    const page = await newPage(PHONE);
    try {
      const res = await page.goto(`${base()}/signup`);
      assert.equal(res.status(), 200);
      const button = page.getByRole('button', { name: 'Create my studio' });
      await button.waitFor({ state: 'visible' });
      await button.scrollIntoViewIfNeeded();
      const box = await button.boundingBox();
      assert.ok(box, 'the submit button has a box');
      assert.ok(box.x >= 0 && box.x + box.width <= PHONE.width,
        `the submit button fits the phone's width: x=${box.x} width=${box.width}`);
      assert.ok(box.width > 0 && box.height >= 24, `the button is big enough to tap: ${JSON.stringify(box)}`);
      for (const label of ['Studio name', 'Your address', 'Your name', 'E-mail', 'Password',
        'Time zone', 'Currency']) {
        const field = page.getByLabel(label, { exact: true });
        await field.scrollIntoViewIfNeeded();
        const fb = await field.boundingBox();
        assert.ok(fb && fb.x >= 0 && fb.x + fb.width <= PHONE.width,
          `field "${label}" fits the phone's width: ${JSON.stringify(fb)}`);
      }
      const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(scrollWidth <= PHONE.width, `no sideways scrolling: scrollWidth=${scrollWidth}`);
    } finally {
      await page.close();
    }
  });

  test('a new user signs up, opens the studio and signs in as its owner', { timeout: TEST_MS }, async () => {
    const page = await newPage();
    try {
      // 1. Signup on the main domain.
      const res = await page.goto(`${base()}/signup`);
      assert.equal(res.status(), 200, 'GET /signup');
      const fields = [
        ['Studio name', 'studio_name', owner.studioName],
        ['Your address', 'slug', owner.slug],
        ['Your name', 'owner_name', owner.name],
        ['E-mail', 'owner_email', owner.email],
        ['Password', 'password', owner.password],
        ['Time zone', 'timezone', owner.timezone],
        ['Currency', 'currency', owner.currency],
      ];
      for (const [label, id, value] of fields) {
        const field = page.getByLabel(label, { exact: true });
        assert.equal(await field.getAttribute('id'), id, `label "${label}" names #${id}`);
        await field.fill(value);
      }
      await page.getByRole('button', { name: 'Create my studio' }).click();

      // 2. The success page names the studio and links to its address.
      await waitForPage(page, (u) => u.pathname === '/signup/success', 'the signup success page');
      await page.getByRole('heading', { level: 1 }).filter({ hasText: owner.studioName }).waitFor();
      const link = page.locator('#studio-url');
      const href = await link.getAttribute('href');
      const target = new URL(href, page.url());
      assert.equal(target.origin, studioOrigin(), `#studio-url href is ${href}`);
      assert.equal(target.pathname, '/', `#studio-url href is ${href}`);

      // 3. The studio's own site (Chromium sends *.localhost to loopback).
      await link.click();
      await waitForPage(page, (u) => u.origin === studioOrigin() && u.pathname === '/', "the studio's home");
      await page.getByRole('heading', { name: owner.studioName }).waitFor();
      await page.getByRole('link', { name: 'Staff sign-in' }).click();
      await waitForPage(page, (u) => u.origin === studioOrigin() && u.pathname === '/login', 'the sign-in page');

      // 4. A wrong password: an error, and still on the sign-in page.
      const wrongAnswer = { url: `${studioOrigin()}/login`, statuses: [400, 401, 403, 422] };
      expectedHttpErrors.push(wrongAnswer);
      await page.getByLabel('E-mail', { exact: true }).fill(owner.email);
      await page.getByLabel('Password', { exact: true }).fill(`${owner.password}-wrong`);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      const alert = page.getByRole('alert');
      await alert.waitFor({ state: 'visible' });
      assert.ok((await alert.innerText()).trim().length > 0, 'the alert says something');
      const afterWrong = new URL(page.url());
      assert.equal(afterWrong.origin, studioOrigin());
      assert.equal(afterWrong.pathname, '/login', `stays on the sign-in page, not ${page.url()}`);
      assert.equal(await page.locator('#me-name').count(), 0, 'not signed in');
      expectedHttpErrors.splice(expectedHttpErrors.indexOf(wrongAnswer), 1);

      // 5. The right password: the staff app greets the owner by name.
      await page.getByLabel('E-mail', { exact: true }).fill(owner.email);
      await page.getByLabel('Password', { exact: true }).fill(owner.password);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await waitForPage(page, (u) => u.origin === studioOrigin() && u.pathname === '/app', 'the staff app');
      const me = page.locator('#me-name');
      await me.waitFor({ state: 'visible' });
      assert.equal((await me.innerText()).trim(), owner.name);
      await page.screenshot({ path: path.join(RESULTS, 'app.png'), fullPage: true });
    } finally {
      await page.close();
    }
  });

  // Checked last and on its own, so that the flow above still runs to its
  // end when a page only logs an error (CSP violations show up here too).
  test('no page logged a console error or threw', () => {
    assert.ok(pagesLoaded > 0, 'the tests above loaded pages');
    assert.deepEqual(problems, [], `the pages reported errors:\n${problems.join('\n')}`);
  });
});
