// Browser end-to-end test of AI credits: the owner opens AI credits from the
// staff navigation, sees the plan's monthly allowance (Pro: 500), buys the
// 500-credit pack through the stand-in's Checkout page (which delivers the
// signed checkout.session.completed to the billing webhook, which credits
// the pack), comes back to a balance of 1,000 with the purchase at the top
// of the history.
//
// Starts its own Stripe stand-in (tests/fakes/stripe_fake.py; the Checkout
// page delivers to STRIPE_FAKE_WEBHOOK_URL, here /api/billing/webhooks/stripe)
// and its own studiod pointed at it. Needs STUDIOD_BIN, STUDIOD_DATABASE_URL
// (migrated), STUDIOD_HOME and SMTP_URL; Debian's /usr/bin/python3 and
// /usr/bin/chromium.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  RESULTS, TEST_MS, browserLog, newOwner, signInPage, stripeSpecStart,
} from './harness.mjs';

describe('buying AI credits, in a browser', { timeout: TEST_MS * 2 }, () => {
  let studiod;
  let fake;
  let browser;
  const log = browserLog();
  let checks;

  const owner = newOwner('e2ec', 'Studio Credits', 'Ines Moreau');
  const studioOrigin = () => studiod.studioOrigin(owner.slug);

  let spec;
  before(async () => {
    spec = await stripeSpecStart({
      name: 'credits',
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

  test('the owner buys a pack through Checkout and sees it credited', { timeout: TEST_MS }, async () => {
    const context = await log.newContext(browser);
    const page = await context.newPage();
    try {
      await signInPage(page, checks.waitForPage, studioOrigin(), owner);
      await page.getByRole('navigation', { name: 'Staff' }).getByRole('link', { name: 'AI credits' }).click();
      await checks.waitForPage(page, (u) => u.pathname === '/app/credits', 'the AI credits page');

      // the plan's allowance, granted on this first look
      await checks.see(page, page.locator('#c-balance', { hasText: '500' }), 'a balance of 500');
      assert.match(await page.locator('#c-allowance').innerText(), /500 of 500/);
      assert.equal((await page.locator('#c-used').innerText()).trim(), '0');
      await checks.see(page, page.locator('#history-body tr', { hasText: 'Monthly allowance' }),
        'the monthly grant in the history');
      assert.equal(await page.locator('#packs > li').count(), 3);

      // buy 500 credits: Stripe's Checkout (the stand-in), pay, come back
      await page.getByRole('button', { name: /^Buy 500 AI credits for/ }).click();
      await checks.waitForPage(page, (u) => u.pathname.startsWith('/pay/cs_'), "Stripe's Checkout page");
      assert.match(await page.locator('#amount').innerText(), /3900 EUR/);
      await page.getByRole('button', { name: 'Pay' }).click();
      await checks.waitForPage(page, (u) => u.pathname === '/app/credits' &&
        u.searchParams.get('purchase') === 'success', 'the AI credits page again');
      await checks.see(page, page.locator('#credits-return', { hasText: 'Thank you' }), 'the thank-you note');
      await checks.see(page, page.locator('#c-balance', { hasText: /^1\D?000$/ }), 'a balance of 1,000');
      assert.equal((await page.locator('#c-purchased').innerText()).trim(), '500');
      const first = page.locator('#history-body tr').first();
      await checks.see(page, first.filter({ hasText: 'Bought' }), 'the purchase at the top of the history');
      assert.match(await first.innerText(), /\+500/);
      await page.screenshot({ path: path.join(RESULTS, 'credits.png'), fullPage: true });
      assert.deepEqual(log.problems, [], 'no console or page errors');
    } finally {
      await context.close();
    }
  });
});
