// Browser end-to-end test of the spine's promise: a new user signs up in
// headless Chromium, reaches the new studio's site, signs in as its owner
// and sees the staff app. Starts its own studiod on a free port; needs
// STUDIOD_BIN, STUDIOD_DATABASE_URL (migrated), STUDIOD_HOME and SMTP_URL
// (scripts/test sets them). Uses Debian's /usr/bin/chromium; never downloads
// a browser.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  PHONE, RESULTS, TEST_MS, browserLog, launchProfile, pageChecks, randomDigits, requireEnv, spawnStudiod,
} from './harness.mjs';

describe('signup to staff app in a browser', { timeout: TEST_MS * 4 }, () => {
  let studiod; // spawnStudiod(): the studiod child process, its port and log
  let profile; // launchProfile(): Chromium with a fresh profile
  // Console errors a step provokes on purpose: Chromium logs any 4xx answer
  // to a navigation ("Failed to load resource: ... status of 401"), and a
  // wrong password is answered 401 by design (log.expectedHttpErrors).
  const log = browserLog();
  let checks;

  const owner = {
    studioName: `Écho & Lumière ${randomDigits(4)}`,
    slug: `e2e${randomDigits(8)}`,
    name: 'Zoë Martin-Ødegaard',
    password: `pw-${randomDigits(6)}-correct horse`,
    timezone: 'Europe/Paris',
    currency: 'EUR',
  };
  owner.email = `owner+${owner.slug}@example.test`;

  const base = () => studiod.base();
  const studioOrigin = () => studiod.studioOrigin(owner.slug);
  // Waits until the page's URL satisfies pred; if it does not within
  // STEP_MS, fails saying where the page is and what it shows instead.
  const waitForPage = (page, pred, what) => checks.waitForPage(page, pred, what);

  async function newPage(viewport) {
    const page = await profile.context.newPage();
    if (viewport) await page.setViewportSize(viewport);
    return page;
  }

  before(async () => {
    await requireEnv(['STUDIOD_BIN', 'STUDIOD_DATABASE_URL']);
    studiod = await spawnStudiod('studiod.log');
    checks = pageChecks(studiod, log, 800);
    await studiod.waitHealthy();

    profile = await launchProfile();
    log.watch(profile.context);
    // The persistent context opens with one blank page; tests open their own.
    for (const p of profile.context.pages()) await p.close();
  });

  after(async () => {
    if (profile) await profile.close();
    if (studiod) await studiod.stop();
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
      const wrongAnswer = { url: `${studioOrigin()}/login`, exact: true, statuses: [400, 401, 403, 422] };
      log.expectedHttpErrors.push(wrongAnswer);
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
      log.expectedHttpErrors.splice(log.expectedHttpErrors.indexOf(wrongAnswer), 1);

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
    assert.ok(log.pagesLoaded > 0, 'the tests above loaded pages');
    assert.deepEqual(log.problems, [], `the pages reported errors:\n${log.problems.join('\n')}`);
  });
});
