// Browser end-to-end test of booking: a studio with one room (made through
// the JSON APIs), a customer who books the first free time on the public
// page (also checked at phone width), then a staff member who signs in,
// finds the booking in the list, confirms it, and the customer who opens the
// manage link and cancels. Starts its own studiod on a free port; needs
// STUDIOD_BIN, STUDIOD_DATABASE_URL (migrated), STUDIOD_HOME and SMTP_URL
// (scripts/test sets them). Uses Debian's /usr/bin/chromium; never
// downloads a browser.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  PHONE, RESULTS, TEST_MS, browserLog, launchBrowser, loginJson, pageChecks, randomDigits, requireEnv,
  signupStudio, spawnStudiod,
} from './harness.mjs';

describe('booking a room, and staff confirming it, in a browser', { timeout: TEST_MS * 5 }, () => {
  let studiod; // spawnStudiod(): the studiod child process, its port and log
  let browser;
  // Console errors and uncaught page errors; log.expectedHttpErrors lists the
  // 4xx answers a step provokes on purpose.
  const log = browserLog();
  let checks;

  const owner = {
    studioName: `Salle Ré ${randomDigits(4)}`,
    slug: `e2eb${randomDigits(8)}`,
    name: 'Ines Okafor',
    password: `pw-${randomDigits(6)}-booking rooms`,
    timezone: 'Europe/Paris',
    currency: 'EUR',
  };
  owner.email = `owner+${owner.slug}@example.test`;
  const room = {
    name: `Live Room ${randomDigits(3)}`,
    description: 'Big live room with a drum kit and a PA',
    capacity: 6,
    hourly_rate: 3000, // EUR 30.00
    equipment: ['Drum kit', 'PA'],
    color: '#2b8a3e',
  };
  const customer = { name: 'Tomás Ferreira', email: 'tomas@example.test', phone: '+33 6 12 34 56 78' };
  let booked = null; // {ref, manageUrl}

  const studioOrigin = () => studiod.studioOrigin(owner.slug);
  const request = (...args) => studiod.request(...args);
  const waitForPage = (page, pred, what) => checks.waitForPage(page, pred, what);

  // A fresh browser context (its own cookies) that records console errors.
  const newContext = (viewport) => log.newContext(browser, viewport ? { viewport } : {});

  // Makes the studio, signs its owner in over JSON, sets the policy so a
  // public booking waits for staff, and adds the room.
  async function makeStudio() {
    await signupStudio(studiod, owner);
    const host = `${owner.slug}.localhost`;
    const { cookie, csrf } = await loginJson(studiod, host, owner.email, owner.password);

    // Bookings wait for staff (so there is something to confirm), bookable 2 hours ahead.
    const settings = await request('GET', host, '/api/settings/booking', { cookie });
    assert.equal(settings.status, 200, `GET /api/settings/booking: ${settings.text}`);
    const put = await request('PUT', host, '/api/settings/booking',
      { cookie, csrf, body: { auto_confirm: false, deposit: { type: 'none', value: 0 } } });
    assert.equal(put.status, 200, `PUT /api/settings/booking: ${put.text}`);

    const made = await request('POST', host, '/api/rooms', { cookie, csrf, body: room });
    assert.equal(made.status, 201, `POST /api/rooms: ${made.text}`);
  }

  before(async () => {
    await requireEnv(['STUDIOD_BIN', 'STUDIOD_DATABASE_URL']);
    studiod = await spawnStudiod('studiod-booking.log');
    checks = pageChecks(studiod, log, 1200);
    await studiod.waitHealthy();

    browser = await launchBrowser();
    await makeStudio();
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (studiod) await studiod.stop();
  });

  test('the booking page is usable on a phone (375x667)', { timeout: TEST_MS }, async () => {
    const context = await newContext(PHONE);
    const page = await context.newPage();
    try {
      const res = await page.goto(`${studioOrigin()}/`);
      assert.equal(res.status(), 200);
      await page.getByRole('heading', { level: 1, name: owner.studioName }).waitFor();
      await page.getByRole('link', { name: 'Staff sign-in' }).waitFor();
      await page.getByRole('radio', { name: new RegExp(room.name) }).check();
      const slot = page.locator('#slot-grid button.slot').first();
      await slot.waitFor({ state: 'visible' });
      await slot.click();
      for (const label of ['Duration', 'Your name', 'E-mail', 'Phone']) {
        const field = page.getByLabel(label, { exact: true });
        await field.scrollIntoViewIfNeeded();
        const box = await field.boundingBox();
        assert.ok(box && box.x >= 0 && box.x + box.width <= PHONE.width,
          `field "${label}" fits the phone's width: ${JSON.stringify(box)}`);
      }
      const button = page.getByRole('button', { name: 'Book', exact: true });
      await button.scrollIntoViewIfNeeded();
      const box = await button.boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= PHONE.width && box.height >= 24,
        `the Book button fits and can be tapped: ${JSON.stringify(box)}`);
      const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(scrollWidth <= PHONE.width, `no sideways scrolling: scrollWidth=${scrollWidth}`);
      await page.screenshot({ path: path.join(RESULTS, 'book-phone.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });

  test('a customer books the first free time on the public page', { timeout: TEST_MS }, async () => {
    const context = await newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${studioOrigin()}/`);
      await page.getByRole('heading', { level: 1, name: owner.studioName }).waitFor();
      const roomCard = page.getByRole('radio', { name: new RegExp(room.name) });
      await roomCard.check();
      const label = page.locator('label.room-card', { hasText: room.name });
      assert.match(await label.innerText(), /30[.,]00/, 'the room card shows the hourly rate');

      const slot = page.locator('#slot-grid button.slot').first();
      await slot.waitFor({ state: 'visible' });
      const startTime = (await slot.innerText()).trim();
      await slot.click();
      assert.equal(await slot.getAttribute('aria-pressed'), 'true', 'the chosen slot is marked');
      const duration = page.getByLabel('Duration', { exact: true });
      assert.ok(await duration.locator('option').count() >= 1, 'at least one duration is offered');

      await page.getByLabel('Your name', { exact: true }).fill(customer.name);
      await page.getByLabel('E-mail', { exact: true }).fill(customer.email);
      await page.getByLabel('Phone', { exact: true }).fill(customer.phone);
      await page.getByLabel(/Notes for the studio/).fill('We bring our own cymbals.');
      await page.getByRole('button', { name: 'Book', exact: true }).click();

      const heading = page.getByRole('heading', { name: /your booking is in/i });
      await checks.see(page, heading, 'the booking confirmation');
      const ref = (await page.locator('#booking-ref').innerText()).trim();
      assert.ok(ref.length >= 4, `a booking reference is shown: "${ref}"`);
      assert.equal((await page.locator('#booking-status').innerText()).trim(), 'Pending');
      assert.match(await page.locator('#booking-when').innerText(), new RegExp(startTime));
      assert.match(await page.locator('#booking-price').innerText(), /\d/);
      const href = await page.getByRole('link', { name: 'Manage your booking' }).getAttribute('href');
      const manage = new URL(href, page.url());
      assert.equal(manage.pathname, `/book/${ref}`);
      assert.ok(manage.searchParams.get('token'), `the manage link carries a token: ${href}`);
      const date = await page.locator('#slot-grid button.slot[aria-pressed="true"]').getAttribute('data-start');
      booked = { ref, manageUrl: manage.href, date: date.slice(0, 10) };
      await page.screenshot({ path: path.join(RESULTS, 'book-confirmed.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });

  test('staff sign in, find the booking and confirm it', { timeout: TEST_MS }, async () => {
    assert.ok(booked, 'the booking test above made a booking');
    const context = await newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${studioOrigin()}/login`);
      await page.getByLabel('E-mail', { exact: true }).fill(owner.email);
      await page.getByLabel('Password', { exact: true }).fill(owner.password);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await waitForPage(page, (u) => u.pathname === '/app', 'the staff dashboard');
      await page.locator('#me-name').waitFor();

      await page.getByRole('navigation', { name: 'Staff' }).getByRole('link', { name: 'Bookings' }).click();
      await waitForPage(page, (u) => u.pathname === '/app/bookings', 'the bookings list');
      const link = page.getByRole('link', { name: new RegExp(`Booking ${booked.ref}`) });
      await link.waitFor();
      await link.click();
      await waitForPage(page, (u) => /^\/app\/bookings\/[0-9a-f-]{36}$/.test(u.pathname), 'the booking page');
      const bookingPath = new URL(page.url()).pathname;

      const status = page.locator('#booking-status');
      await page.getByRole('heading', { name: `Booking ${booked.ref}` }).waitFor();
      assert.equal((await status.innerText()).trim(), 'Pending');
      assert.match(await page.locator('#b-customer').innerText(), new RegExp(customer.name));
      await page.getByRole('button', { name: 'Confirm', exact: true }).click();
      await page.locator('#booking-status', { hasText: 'Confirmed' }).waitFor();
      await page.getByRole('status').filter({ hasText: 'Booking confirmed' }).waitFor();
      assert.equal(await page.getByRole('button', { name: 'Confirm', exact: true }).count(), 0,
        'no Confirm button once confirmed');
      await page.screenshot({ path: path.join(RESULTS, 'staff-booking.png'), fullPage: true });

      // The calendar shows it, as a link to the same booking.
      await page.getByRole('navigation', { name: 'Staff' }).getByRole('link', { name: 'Calendar' }).click();
      await waitForPage(page, (u) => u.pathname === '/app/calendar', 'the calendar');
      // The booking may be days ahead: the week view of its day.
      await page.goto(`${studioOrigin()}/app/calendar?view=week&date=${booked.date}`);
      const block = page.locator(`a.cal-block[href="${bookingPath}"]`);
      await block.waitFor({ state: 'visible' });
      assert.match(await block.getAttribute('aria-label'), new RegExp(customer.name));
      await page.screenshot({ path: path.join(RESULTS, 'staff-calendar.png'), fullPage: true });
      await page.getByRole('button', { name: 'Day', exact: true }).click();
      await page.locator(`a.cal-block[href="${bookingPath}"]`).waitFor({ state: 'visible' });
      await page.locator(`a.cal-block[href="${bookingPath}"]`).click();
      await waitForPage(page, (u) => u.pathname === bookingPath, 'the booking page, from the calendar');
    } finally {
      await context.close();
    }
  });

  test('the customer opens the manage link and cancels', { timeout: TEST_MS }, async () => {
    assert.ok(booked, 'the booking test above made a booking');
    const context = await newContext(PHONE);
    const page = await context.newPage();
    try {
      await page.goto(booked.manageUrl);
      const status = page.locator('#booking-status');
      await page.locator('#booking-status', { hasText: 'Confirmed' }).waitFor();
      assert.equal((await page.locator('#booking-ref').innerText()).trim(), booked.ref);
      await page.getByRole('button', { name: 'Cancel this booking' }).click();
      // A confirmation step first: nothing is cancelled yet.
      await page.getByRole('heading', { name: 'Cancel this booking?' }).waitFor();
      await page.getByRole('button', { name: 'Keep my booking' }).click();
      assert.equal((await status.innerText()).trim(), 'Confirmed');
      await page.getByRole('button', { name: 'Cancel this booking' }).click();
      await page.getByRole('button', { name: 'Yes, cancel it' }).click();
      const result = page.locator('#cancel-result');
      await result.waitFor({ state: 'visible' });
      assert.match(await result.innerText(), /cancelled/i);
      assert.match(await result.innerText(), /refund/i, 'the refund result is shown');
      assert.equal((await status.innerText()).trim(), 'Cancelled');
      const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(scrollWidth <= PHONE.width, `no sideways scrolling: scrollWidth=${scrollWidth}`);
      await page.screenshot({ path: path.join(RESULTS, 'manage-cancelled.png'), fullPage: true });

      // A wrong token gets a clear message, not the booking.
      const wrong = new URL(booked.manageUrl);
      wrong.searchParams.set('token', 'not-the-token');
      log.expectedHttpErrors.push({ url: `${studioOrigin()}/api/public/booking/`, statuses: [401, 403, 404] });
      await page.goto(wrong.href);
      await page.getByRole('alert').filter({ hasText: /could not find this booking/ }).waitFor();
      assert.equal(await page.locator('#manage-details').isVisible(), false);
    } finally {
      await context.close();
    }
  });

  // Checked last and on its own, so that the flows above still run to their
  // end when a page only logs an error (CSP violations show up here too).
  test('no page logged a console error or threw', () => {
    assert.ok(log.pagesLoaded > 0, 'the tests above loaded pages');
    assert.deepEqual(log.problems, [], `the pages reported errors:\n${log.problems.join('\n')}`);
  });
});
