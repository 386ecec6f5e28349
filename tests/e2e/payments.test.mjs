// Browser end-to-end test of booking payments: the studio's owner connects
// Stripe from Settings → Payments (through the stand-in's onboarding page,
// which reports the account enabled by a signed account.updated webhook), a
// customer books a room that needs a deposit, opens the manage link, clicks
// Pay, pays on the stand-in's Checkout page (which delivers the signed
// checkout.session.completed webhook and sends the browser back), and sees
// the booking confirmed with the deposit paid.
//
// Starts its own Stripe stand-in (tests/fakes/stripe_fake.py, with
// stripe_fake_connect.py: its pages deliver events to this studiod's
// webhook, STRIPE_FAKE_WEBHOOK_URL / STRIPE_FAKE_WEBHOOK_SECRET) and its own
// studiod pointed at it (STRIPE_API_BASE, STRIPE_SECRET_KEY,
// STRIPE_WEBHOOK_SECRET), so scripts/test needs nothing more than for the
// other specs. Needs STUDIOD_BIN, STUDIOD_DATABASE_URL (migrated),
// STUDIOD_HOME and SMTP_URL; Debian's /usr/bin/python3 and /usr/bin/chromium.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  RESULTS, TEST_MS, browserLog, loginJson, newOwner, randomDigits, signInPage, stripeSpecStart,
} from './harness.mjs';

describe('paying a booking deposit through Stripe, in a browser', { timeout: TEST_MS * 3 }, () => {
  let studiod;
  let fake;
  let fakePort;
  let browser;
  const log = browserLog();
  let checks;

  const owner = newOwner('e2ep', 'Studio Pay', 'Maya Lind');
  const room = { name: `Booth ${randomDigits(3)}`, hourly_rate: 4000 }; // EUR 40.00
  const customer = { name: 'Jun Park', email: `jun+${owner.slug}@example.test` };
  const host = () => `${owner.slug}.localhost`;
  const studioOrigin = () => studiod.studioOrigin(owner.slug);
  const request = (...args) => studiod.request(...args);
  const newContext = () => log.newContext(browser);

  let spec;
  before(async () => {
    spec = await stripeSpecStart({
      name: 'payments',
      webhookPath: '/api/stripe/webhook',
      secretEnv: 'STRIPE_WEBHOOK_SECRET',
      owner,
      log,
    });
    ({ studiod, fake, browser, checks } = spec);
    ({ fakePort } = spec);
    const { cookie, csrf } = await loginJson(studiod, host(), owner.email, owner.password);
    const put = await request('PUT', host(), '/api/settings/booking', {
      cookie, csrf, body: { auto_confirm: true, deposit: { type: 'percent', value: 50 } },
    });
    assert.equal(put.status, 200, `PUT /api/settings/booking: ${put.text}`);
    const made = await request('POST', host(), '/api/rooms', { cookie, csrf, body: room });
    assert.equal(made.status, 201, `POST /api/rooms: ${made.text}`);
  });

  after(async () => {
    if (spec) await spec.stop();
  });

  test('the owner connects Stripe from Settings → Payments', { timeout: TEST_MS }, async () => {
    const context = await newContext();
    const page = await context.newPage();
    try {
      await signInPage(page, checks.waitForPage, studioOrigin(), owner);
      await page.getByRole('navigation', { name: 'Staff' }).getByRole('link', { name: 'Payments' }).click();
      await checks.waitForPage(page, (u) => u.pathname === '/app/payments', 'the payments page');
      await checks.see(page, page.locator('#pay-summary', { hasText: 'Connect a Stripe account' }),
        'the page saying Stripe is not connected');
      assert.match(await page.locator('#pay-fee').innerText(), /1% of each deposit/);

      await page.getByRole('button', { name: 'Connect Stripe' }).click();
      await checks.waitForPage(page, (u) => u.pathname.startsWith('/connect/onboard/acct_'),
        "Stripe's onboarding (the stand-in)");
      await page.getByRole('button', { name: 'Complete onboarding' }).click();
      await checks.waitForPage(page, (u) => u.pathname === '/app/payments' &&
        u.searchParams.get('onboarding') === 'return', 'the payments page again');
      await checks.see(page, page.locator('#pay-summary', { hasText: 'Customers can pay deposits online.' }),
        'the account ready to take payments');
      assert.equal((await page.locator('#pay-charges').innerText()).trim(), 'Enabled');
      assert.match(await page.locator('#pay-account').innerText(), /^acct_/);
      await page.screenshot({ path: path.join(RESULTS, 'payments-settings.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });

  test('a customer books, pays the deposit on Checkout and sees it confirmed', { timeout: TEST_MS }, async () => {
    const context = await newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${studioOrigin()}/`);
      await page.getByRole('radio', { name: new RegExp(room.name) }).check();
      const slot = page.locator('#slot-grid button.slot').first();
      await slot.waitFor({ state: 'visible' });
      await slot.click();
      await page.getByLabel('Your name', { exact: true }).fill(customer.name);
      await page.getByLabel('E-mail', { exact: true }).fill(customer.email);
      await page.getByRole('button', { name: 'Book', exact: true }).click();
      await checks.see(page, page.getByRole('heading', { name: /your booking is in/i }),
        'the booking confirmation');
      const ref = (await page.locator('#booking-ref').innerText()).trim();
      assert.equal((await page.locator('#booking-status').innerText()).trim(), 'Pending');

      await page.getByRole('link', { name: 'Manage your booking' }).click();
      await checks.waitForPage(page, (u) => u.pathname === `/book/${ref}`, 'the manage page');
      const pay = page.getByRole('button', { name: 'Pay the deposit' });
      await checks.see(page, pay, 'the Pay button');
      const due = await page.locator('#pay-due').innerText();
      assert.match(due, /\d/, `the deposit due is shown: "${due}"`);
      assert.match(await page.locator('#pay-paid').innerText(), /0[.,]00/);
      await pay.click();

      await checks.waitForPage(page, (u) => u.port === String(fakePort) && u.pathname.startsWith('/pay/cs_'),
        'the Checkout page (the stand-in)');
      const digits = (t) => t.replace(/\D/g, '');
      const amount = await page.locator('#amount').innerText();
      assert.equal(digits(amount), digits(due), `Checkout asks for the deposit: "${amount}" vs "${due}"`);
      assert.match(amount, /EUR/);
      await page.getByRole('button', { name: 'Pay', exact: true }).click();

      await checks.waitForPage(page, (u) => u.pathname === `/book/${ref}` && u.searchParams.get('paid') === '1',
        'the manage page after paying');
      await checks.see(page, page.locator('#booking-status', { hasText: 'Confirmed' }),
        'the booking confirmed');
      await checks.see(page, page.locator('#pay-result', { hasText: 'Your payment was received' }),
        'the payment acknowledged');
      assert.equal(digits(await page.locator('#pay-paid').innerText()), digits(due));
      assert.match(await page.locator('#pay-due').innerText(), /0[.,]00/);
      assert.equal(await pay.isVisible(), false, 'no Pay button once paid');
      await page.screenshot({ path: path.join(RESULTS, 'payments-paid.png'), fullPage: true });
      assert.deepEqual(log.problems, [], 'no console or page errors');
    } finally {
      await context.close();
    }
  });
});
