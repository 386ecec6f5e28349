// Browser end-to-end test of the studio's own subscription: the owner opens
// Billing from the staff navigation, sees the trial, the usage bars and the
// plan cards, subscribes to Starter through the stand-in's Checkout page
// (which makes the subscription and delivers the signed
// checkout.session.completed to the billing webhook), comes back to an
// active Starter plan, upgrades to Pro from its card, and sees Pro.
//
// Starts its own Stripe stand-in (tests/fakes/stripe_fake.py with its area
// modules; the Checkout page delivers to STRIPE_FAKE_WEBHOOK_URL, here
// /api/billing/webhooks/stripe) and its own studiod pointed at it. Needs
// STUDIOD_BIN, STUDIOD_DATABASE_URL (migrated), STUDIOD_HOME and SMTP_URL;
// Debian's /usr/bin/python3 and /usr/bin/chromium.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  RESULTS, TEST_MS, browserLog, newOwner, signInPage, stripeSpecStart,
} from './harness.mjs';

describe('subscribing to a plan, in a browser', { timeout: TEST_MS * 2 }, () => {
  let studiod;
  let fake;
  let browser;
  const log = browserLog();
  let checks;

  const owner = newOwner('e2eb', 'Studio Billing', 'Noor Haddad');
  const studioOrigin = () => studiod.studioOrigin(owner.slug);

  let spec;
  before(async () => {
    spec = await stripeSpecStart({
      name: 'billing',
      webhookPath: '/api/billing/webhooks/stripe',
      secretEnv: 'STRIPE_BILLING_WEBHOOK_SECRET',
      owner,
      log,
    });
    ({ studiod, fake, browser, checks } = spec);
  });

  after(async () => {
    if (spec) await spec.stop();
  });

  test('the owner subscribes through Checkout, then upgrades', { timeout: TEST_MS }, async () => {
    const context = await log.newContext(browser);
    const page = await context.newPage();
    try {
      await signInPage(page, checks.waitForPage, studioOrigin(), owner);
      await page.getByRole('navigation', { name: 'Staff' }).getByRole('link', { name: 'Billing' }).click();
      await checks.waitForPage(page, (u) => u.pathname === '/app/billing', 'the billing page');

      // the trial, the usage bars and three plan cards
      await checks.see(page, page.locator('#b-status', { hasText: 'Trial' }), 'the trial status');
      await checks.see(page, page.locator('#usage li[data-limit="rooms"]'), 'the rooms usage bar');
      assert.match(await page.locator('#usage li[data-limit="staff"]').innerText(), /1 of 15/);
      await checks.see(page, page.locator('#plans li[data-plan="studio_plus"]'), 'the Studio+ card');
      assert.equal(await page.locator('#plans > li').count(), 3);
      assert.match(await page.locator('#plans li[data-plan="studio_plus"]').innerText(), /Unlimited rooms/);

      // subscribe to Starter: Stripe's Checkout (the stand-in), pay, come back
      await page.getByRole('button', { name: 'Subscribe to Starter' }).click();
      await checks.waitForPage(page, (u) => u.pathname.startsWith('/pay/cs_'), "Stripe's Checkout page");
      await page.getByRole('button', { name: 'Pay' }).click();
      await checks.waitForPage(page, (u) => u.pathname === '/app/billing' &&
        u.searchParams.get('checkout') === 'success', 'the billing page again');
      await checks.see(page, page.locator('#b-plan', { hasText: 'Starter (monthly)' }), 'the Starter plan');
      assert.equal((await page.locator('#b-status').innerText()).trim(), 'Active');
      await checks.see(page, page.locator('#plans li[data-plan="starter"] .badge', { hasText: 'Current plan' }),
        'Starter marked as the current plan');

      // upgrade to Pro from its card
      await page.getByRole('button', { name: 'Upgrade to Pro' }).click();
      await checks.see(page, page.locator('#b-plan', { hasText: 'Pro (monthly)' }), 'the Pro plan');
      await checks.see(page, page.locator('#usage li[data-limit="rooms"]', { hasText: 'of 10' }),
        'the Pro room limit');
      await page.screenshot({ path: path.join(RESULTS, 'billing.png'), fullPage: true });
      assert.deepEqual(log.problems, [], 'no console or page errors');
    } finally {
      await context.close();
    }
  });
});
