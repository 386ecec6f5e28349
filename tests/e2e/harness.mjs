// What the browser end-to-end specs share: a studiod of their own on a free
// port (started, checked healthy, stopped with SIGTERM and expected to exit
// 0), JSON requests to it, Debian's Chromium launched through playwright-core
// (never a downloaded browser), console errors collected with an allowance
// for 4xx answers a step provokes on purpose, and failure messages that say
// what the page shows and what studiod logged.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { chromium } from 'playwright-core';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const RESULTS = path.join(HERE, 'test-results');
export const CHROMIUM = process.env.STUDIOD_CHROMIUM || '/usr/bin/chromium';
export const STEP_MS = 30_000; // every browser step
export const HEALTH_MS = 15_000; // studiod up and healthy
export const STOP_MS = 15_000; // studiod gone after SIGTERM
export const TEST_MS = 180_000; // a whole test, as a last resort

export const PHONE = { width: 375, height: 667 };

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// A port nothing listens on right now (the kernel picks it).
export function freePort() {
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

export function randomDigits(n) {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(Math.random() * 10);
  return s;
}

// Fails unless every named environment variable is set; makes RESULTS.
export async function requireEnv(names) {
  for (const name of names) {
    assert.ok(process.env[name], `${name} must be set (scripts/test sets it)`);
  }
  await mkdir(RESULTS, { recursive: true });
}

// A JSON request to studiod on `port` with the Host header set, so that the
// bare domain or a studio host answers (Node does not resolve *.localhost).
export function request(port, method, host, pathname, { body, cookie, csrf } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const headers = { Host: `${host}:${port}`, Accept: 'application/json' };
    if (data) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(data.length);
    }
    if (cookie) headers.Cookie = cookie;
    if (csrf) headers['X-CSRF-Token'] = csrf;
    const req = http.request({ host: '127.0.0.1', port, method, path: pathname, headers, timeout: STEP_MS },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json = null;
          try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
          resolve({ status: res.statusCode, headers: res.headers, json, text });
        });
      });
    req.on('timeout', () => req.destroy(new Error(`${method} ${pathname} timed out`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

// Spawns `$STUDIOD_BIN serve` on a free port (base domain localhost), its
// output going to RESULTS/logName and, the last part, to logTail(). Call
// waitHealthy() next, and stop() when done (also when waitHealthy failed).
export async function spawnStudiod(logName) {
  const port = await freePort();
  let log = ''; // last part of its output, for failure messages
  const logFile = createWriteStream(path.join(RESULTS, logName));
  const child = spawn(process.env.STUDIOD_BIN, ['serve'], {
    env: { ...process.env, STUDIOD_PORT: String(port), STUDIOD_BASE_DOMAIN: 'localhost' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exit = new Promise((resolve) => { // Promise<{code, signal}>
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.on('error', (err) => {
      log += `\nspawn failed: ${err.message}\n`;
      resolve({ code: null, signal: null, error: err });
    });
  });
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (chunk) => {
      logFile.write(chunk);
      log = (log + chunk.toString()).slice(-20_000);
    });
  }
  child.on('exit', () => logFile.end());

  const logTail = () => log.slice(-4000);
  const studiod = {
    port,
    child,
    exit,
    logTail,
    base: () => `http://localhost:${port}`,
    studioOrigin: (slug) => `http://${slug}.localhost:${port}`,
    request: (method, host, pathname, options) => request(port, method, host, pathname, options),

    async waitHealthy() {
      const url = `http://localhost:${port}/healthz`;
      const deadline = Date.now() + HEALTH_MS;
      let last = 'no answer';
      let exited = null;
      exit.then((e) => { exited = e; });
      while (Date.now() < deadline) {
        if (exited) {
          throw new Error(`studiod exited before it was healthy (code ${exited.code}, ` +
            `signal ${exited.signal})\n${logTail()}`);
        }
        try {
          const res = await studiod.request('GET', 'localhost', '/healthz');
          if (res.status === 200) return;
          last = `HTTP ${res.status}`;
        } catch (err) {
          last = String(err.code || err.message);
        }
        await delay(100); // poll interval, bounded by the deadline above
      }
      throw new Error(`studiod not healthy at ${url} within ${HEALTH_MS} ms (last: ${last})\n${logTail()}`);
    },

    // SIGTERM, then studiod must be gone within STOP_MS with exit code 0.
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) {
        const e = await exit;
        assert.fail(`studiod had already exited (code ${e.code}, signal ${e.signal})\n${logTail()}`);
      }
      child.kill('SIGTERM');
      const timer = new AbortController();
      const stopped = await Promise.race([
        exit,
        delay(STOP_MS, null, { signal: timer.signal }).catch(() => null),
      ]);
      timer.abort(); // no timer left to hold the process
      if (!stopped) {
        child.kill('SIGKILL');
        await exit;
        assert.fail(`studiod did not stop within ${STOP_MS} ms of SIGTERM\n${logTail()}`);
      }
      assert.deepEqual(stopped, { code: 0, signal: null },
        `studiod should exit with code 0 on SIGTERM\n${logTail()}`);
    },
  };
  return studiod;
}

// POST /signup (JSON) for a studio {studioName, slug, name, email, password,
// timezone, currency}; fails unless it is created.
export async function signupStudio(studiod, studio) {
  const res = await studiod.request('POST', 'localhost', '/signup', {
    body: {
      studio_name: studio.studioName, slug: studio.slug, owner_name: studio.name, owner_email: studio.email,
      password: studio.password, timezone: studio.timezone, currency: studio.currency,
    },
  });
  assert.equal(res.status, 201, `POST /signup: ${res.text}`);
  return res;
}

// POST /login (JSON) on a studio host: the session cookie and CSRF token.
export async function loginJson(studiod, host, email, password) {
  const login = await studiod.request('POST', host, '/login', { body: { email, password } });
  assert.equal(login.status, 200, `POST /login: ${login.text}`);
  const cookie = [].concat(login.headers['set-cookie'] || []).map((c) => c.split(';')[0]).join('; ');
  const csrf = login.json.csrf_token;
  assert.ok(cookie && csrf, 'the login gave a cookie and a CSRF token');
  return { cookie, csrf };
}

function setTimeouts(context) {
  context.setDefaultTimeout(STEP_MS);
  context.setDefaultNavigationTimeout(STEP_MS);
}

// Debian's Chromium, headless, for fresh contexts (browser.newContext()).
export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: STEP_MS });
}

// Debian's Chromium with a fresh profile directory: {context, close()}.
// The blank page it opens with is closed.
export async function launchProfile() {
  const profileDir = await mkdtemp(path.join(os.tmpdir(), 'studiod-e2e-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: STEP_MS,
    });
  } catch (err) {
    await rm(profileDir, { recursive: true, force: true });
    throw err;
  }
  setTimeouts(context);
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      await rm(profileDir, { recursive: true, force: true });
    },
  };
}

// Console errors and uncaught page errors of every context watch() is given.
// Console errors a step provokes on purpose (Chromium logs every 4xx answer,
// "Failed to load resource: ... status of 401") are let through when an
// entry of expectedHttpErrors matches: {url (a prefix, or the whole URL
// with exact: true), statuses}.
export function browserLog() {
  const log = {
    problems: [],
    expectedHttpErrors: [],
    pagesLoaded: 0,
    watch(context) {
      setTimeouts(context);
      context.on('console', (msg) => {
        if (msg.type() !== 'error') return;
        const loc = msg.location();
        const status = /^Failed to load resource: the server responded with a status of (\d+)/
          .exec(msg.text())?.[1];
        if (status && log.expectedHttpErrors.some((e) =>
          (e.exact ? loc?.url === e.url : loc?.url?.startsWith(e.url)) &&
            e.statuses.includes(Number(status)))) {
          return;
        }
        log.problems.push(`console error on ${msg.page()?.url()}: ${msg.text()}` +
          (loc?.url ? ` (${loc.url}:${loc.lineNumber})` : ''));
      });
      context.on('weberror', (err) => {
        log.problems.push(`page error on ${err.page()?.url()}: ${err.error().stack || err.error()}`);
      });
      context.on('page', (page) => page.on('load', () => { log.pagesLoaded += 1; }));
      return context;
    },
    // A fresh context of browser (its own cookies), watched.
    async newContext(browser, options = {}) {
      return log.watch(await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options }));
    },
  };
  return log;
}

// Failure messages that say where the page is, what it shows (up to
// maxShown characters), the page errors so far and the studiod log tail.
export function pageChecks(studiod, log, maxShown = 1200) {
  const checks = {
    async shown(page) {
      try {
        return (await page.locator('body').innerText({ timeout: 2000 })).slice(0, maxShown);
      } catch {
        return '(the page is gone)';
      }
    },
    async context(page) {
      return `it shows:\n${await checks.shown(page)}\n` +
        `page errors so far:\n${log.problems.join('\n') || '(none)'}\nstudiod log:\n${studiod.logTail()}`;
    },
    // Waits until the page's URL satisfies pred; otherwise fails saying what the page shows.
    async waitForPage(page, pred, what) {
      try {
        await page.waitForURL(pred);
      } catch (err) {
        throw new Error(`expected ${what}, but the page is ${page.url()} (${err.message.split('\n')[0]})\n` +
          await checks.context(page));
      }
    },
    // Waits for a locator to be visible; on failure says what the page shows instead.
    async see(page, locator, what) {
      try {
        await locator.waitFor({ state: 'visible' });
      } catch (err) {
        throw new Error(`expected ${what} (${err.message.split('\n')[0]}); the page is ${page.url()}\n` +
          await checks.context(page));
      }
    },
  };
  return checks;
}

// The Stripe stand-in (tests/fakes/stripe_fake.py and its area modules) on port, its
// pages (Checkout, onboarding) delivering signed events to webhookUrl with secret; its
// output in test-results/<logName>. Resolves to the child process once it answers.
export async function startStripeFake(port, { webhookUrl, secret, logName }) {
  const script = path.join(process.env.STUDIOD_HOME || path.join(HERE, '..', '..'),
    'tests', 'fakes', 'stripe_fake.py');
  await mkdir(RESULTS, { recursive: true });
  const logFile = createWriteStream(path.join(RESULTS, logName));
  const child = spawn('/usr/bin/python3', [script, String(port)], {
    env: { ...process.env, STRIPE_FAKE_WEBHOOK_URL: webhookUrl, STRIPE_FAKE_WEBHOOK_SECRET: secret },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(logFile);
  child.stderr.pipe(logFile);
  const deadline = Date.now() + HEALTH_MS;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/_fake/requests`);
      if (res.ok) return child;
    } catch { /* not listening yet */ }
    if (child.exitCode !== null) break;
    await delay(50); // poll interval, bounded by the deadline above
  }
  child.kill('SIGTERM');
  throw new Error(`the Stripe stand-in did not answer on port ${port}`);
}

// Signs person ({email, password}) in through origin's /login page and waits for the
// staff dashboard (waitForPage: a pageChecks' waitForPage).
export async function signInPage(page, waitForPage, origin, person) {
  await page.goto(`${origin}/login`);
  await page.getByLabel('E-mail', { exact: true }).fill(person.email);
  await page.getByLabel('Password', { exact: true }).fill(person.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await waitForPage(page, (u) => u.pathname === '/app', 'the staff dashboard');
}

// An owner for a new studio: a unique slug (prefix + digits), the studio's and the
// owner's names, a password; Europe/Paris, EUR.
export function newOwner(prefix, studioName, name) {
  const slug = `${prefix}${randomDigits(8)}`;
  return {
    studioName: `${studioName} ${randomDigits(4)}`, slug, name,
    password: `pw-${randomDigits(6)}-${prefix}`, email: `owner+${slug}@example.test`,
    timezone: 'Europe/Paris', currency: 'EUR',
  };
}

// What a Stripe spec runs on: its own Stripe stand-in (tests/fakes/stripe_fake.py; its
// pages deliver signed events to webhookPath), its own studiod pointed at it
// (STRIPE_API_BASE, STRIPE_SECRET_KEY, and the webhook's signing secret in secretEnv), a
// browser, and owner's studio signed up. Resolves to { studiod, fake, browser, checks,
// fakePort, stop }; stop() ends all three.
export async function stripeSpecStart({ name, webhookPath, secretEnv, owner, log }) {
  await requireEnv(['STUDIOD_BIN', 'STUDIOD_DATABASE_URL']);
  const secret = `whsec_e2e_${name}_${randomDigits(8)}`;
  const fakePort = await freePort();
  process.env.STRIPE_API_BASE = `http://127.0.0.1:${fakePort}`;
  process.env.STRIPE_SECRET_KEY = `sk_test_e2e_${name}`;
  process.env[secretEnv] = secret;
  const ctx = { fakePort };
  ctx.stop = async () => {
    if (ctx.browser) await ctx.browser.close().catch(() => {});
    if (ctx.fake) ctx.fake.kill('SIGTERM');
    if (ctx.studiod) await ctx.studiod.stop();
  };
  ctx.studiod = await spawnStudiod(`studiod-${name}.log`);
  ctx.checks = pageChecks(ctx.studiod, log, 1500);
  await ctx.studiod.waitHealthy();
  ctx.fake = await startStripeFake(fakePort, {
    webhookUrl: `http://127.0.0.1:${ctx.studiod.port}${webhookPath}`,
    secret,
    logName: `stripe-fake-${name}.log`,
  });
  ctx.browser = await launchBrowser();
  await signupStudio(ctx.studiod, owner);
  return ctx;
}
