// Browser end-to-end test of roles, the team page, the audit log and the
// platform admin: an owner (studio made by POST /signup, signed in through
// the /login page) invites a member on /app/team, the member sets a password
// from the e-mailed link, the owner gives them "front desk" until tomorrow
// and finds the grant in /app/audit (details, chain verification, CSV
// export), then takes the role away; the roles page makes a role that
// inherits from "front desk", edits its permission grid and refuses a loop;
// the three pages are checked at phone width; and a platform admin signs in
// with a TOTP code computed here and suspends another studio, whose site
// then says so.
//
// Starts its own studiod on a free port; needs STUDIOD_BIN,
// STUDIOD_DATABASE_URL (migrated), SMTP_URL (an SMTP sink) and
// STUDIOD_TEST_MAILDIR (where that sink stores mail: the invitation is read
// from its new/ folder); STUDIOD_HOME as for the others (scripts/test sets
// them all). Uses Debian's /usr/bin/chromium; never downloads a browser.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  PHONE, RESULTS, STEP_MS, TEST_MS, browserLog, launchBrowser, pageChecks, randomDigits, requireEnv,
  signupStudio, spawnStudiod,
} from './harness.mjs';

const MAIL_MS = 20_000; // the invitation reaches the sink (outbox job + SMTP)
const SUSPEND_MS = 10_000; // the tenant cache (up to 5 s) lets go of a suspended studio
const DAY_MS = 24 * 3600 * 1000;

// The member's browser is not in the studio's zone, and its offset is not a whole hour:
// the expiry typed on the team page must still mean that browser's local time.
const BROWSER_ZONE = 'Asia/Kolkata';

// RFC 4648 base32 (no padding needed) to bytes.
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = text.toUpperCase().replace(/[\s=]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of clean) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${text}`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// RFC 6238 TOTP: HMAC-SHA1 over the 30-second step, dynamic truncation, 6 digits.
function totp(secretBase32, unixMs = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixMs / 1000 / 30)));
  const mac = createHmac('sha1', base32Decode(secretBase32)).update(counter).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(bin % 1_000_000).padStart(6, '0');
}

// A quoted-printable body as text (soft line breaks joined, =XX bytes decoded as UTF-8).
function decodeQuotedPrintable(text) {
  const joined = text.replace(/=\r?\n/g, '');
  const bytes = [];
  for (let i = 0; i < joined.length; i++) {
    const m = /^=([0-9A-Fa-f]{2})/.exec(joined.slice(i, i + 3));
    if (m) {
      bytes.push(parseInt(m[1], 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(joined[i], 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

describe('roles, the team page, the audit log and a platform admin, in a browser', { timeout: TEST_MS * 6 }, () => {
  let studiod; // spawnStudiod(): the studiod child process, its port and log
  let browser;
  // Console errors and uncaught page errors; log.expectedHttpErrors lists the
  // 4xx answers a step provokes on purpose.
  const log = browserLog();
  let checks;

  const owner = {
    studioName: `Salle Rôles ${randomDigits(4)}`,
    slug: `e2er${randomDigits(8)}`,
    name: 'Amara Lindqvist',
    password: `pw-${randomDigits(6)}-roles and logs`,
    timezone: 'Europe/Paris',
    currency: 'EUR',
  };
  owner.email = `owner+${owner.slug}@example.test`;
  const member = {
    name: 'Kofi Brennan-Ōta',
    email: `kofi+${owner.slug}@example.test`,
    password: `pw-${randomDigits(6)}-front desk`,
  };
  // The studio the platform admin suspends (its own, so the other tests keep theirs).
  const other = {
    studioName: `Studio Suspendu ${randomDigits(4)}`,
    slug: `e2es${randomDigits(8)}`,
    name: 'Noor Haddad',
    password: `pw-${randomDigits(6)}-suspend me`,
    timezone: 'Europe/Paris',
    currency: 'EUR',
  };
  other.email = `owner+${other.slug}@example.test`;
  const admin = { email: `admin+${owner.slug}@example.test`, password: `admin-pw-${randomDigits(8)}-long` };
  let invited = false; // test 1 got the member in
  let granted = null; // {expiresAt: Date} once the role was given

  const logTail = () => studiod.logTail();
  const studioOrigin = (slug = owner.slug) => studiod.studioOrigin(slug);
  const base = () => studiod.base();
  const waitForPage = (page, pred, what) => checks.waitForPage(page, pred, what);
  // Waits for a locator; on failure says what the page shows instead.
  const see = (page, locator, what) => checks.see(page, locator, what);
  // A fresh browser context (its own cookies) that records console errors.
  const newContext = (options) => log.newContext(browser, options);

  // The owner, signed in through the /login page, on the staff dashboard.
  async function ownerPage(options) {
    const context = await newContext(options);
    const page = await context.newPage();
    await page.goto(`${studioOrigin()}/login`);
    await page.getByLabel('E-mail', { exact: true }).fill(owner.email);
    await page.getByLabel('Password', { exact: true }).fill(owner.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await waitForPage(page, (u) => u.pathname === '/app', 'the staff dashboard');
    return { context, page };
  }

  async function openFromNav(page, name, pathname) {
    await page.getByRole('navigation', { name: 'Staff' }).getByRole('link', { name, exact: true }).click();
    await waitForPage(page, (u) => u.pathname === pathname, `the ${name} page`);
  }

  // The invitation mailed to `to`: its link, once the sink has stored the message.
  async function invitationLink(to) {
    const dir = path.join(process.env.STUDIOD_TEST_MAILDIR, 'new');
    const deadline = Date.now() + MAIL_MS;
    while (Date.now() < deadline) {
      let names = [];
      try { names = await readdir(dir); } catch { /* the sink makes it on its first mail */ }
      for (const name of names) {
        const raw = await readFile(path.join(dir, name), 'utf8').catch(() => '');
        const split = raw.search(/\r?\n\r?\n/);
        const head = raw.slice(0, split);
        if (!head.toLowerCase().includes(to.toLowerCase())) continue;
        const body = /quoted-printable/i.test(raw) ? decodeQuotedPrintable(raw) : raw;
        const link = /https?:\/\/[^\s"<>]+\/invite\/[A-Za-z0-9_-]+/.exec(body)?.[0];
        if (link) return link;
      }
      await delay(200); // poll interval, bounded by the deadline above
    }
    throw new Error(`no invitation for ${to} in ${dir} within ${MAIL_MS} ms\nstudiod log:\n${logTail()}`);
  }

  // The member's row on the team page.
  const memberRow = (page) => page.locator('#staff-body tr', { hasText: member.email });

  before(async () => {
    await requireEnv(['STUDIOD_BIN', 'STUDIOD_DATABASE_URL', 'SMTP_URL', 'STUDIOD_TEST_MAILDIR']);
    studiod = await spawnStudiod('studiod-rbac-audit.log');
    checks = pageChecks(studiod, log, 1500);
    await studiod.waitHealthy();

    browser = await launchBrowser();
    await signupStudio(studiod, owner);
    await signupStudio(studiod, other);
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (studiod) await studiod.stop();
  });

  test('the owner invites a member, who sets a password, and gives them a role until tomorrow',
    { timeout: TEST_MS }, async () => {
      const { context, page } = await ownerPage({ timezoneId: BROWSER_ZONE });
      const memberContext = await newContext();
      try {
        await openFromNav(page, 'Team', '/app/team');
        await page.getByLabel('Name', { exact: true }).fill(member.name);
        await page.getByLabel('E-mail', { exact: true }).fill(member.email);
        await page.getByRole('button', { name: 'Send invitation' }).click();
        await see(page, page.getByRole('status').filter({ hasText: `Invitation sent to ${member.email}` }),
          'the invitation to be sent');
        await see(page, memberRow(page).getByText('Invited', { exact: true }), 'the member listed as invited');

        // The member follows the e-mailed link and chooses a password.
        const link = new URL(await invitationLink(member.email));
        assert.equal(link.origin, studioOrigin(), `the link leads to the studio: ${link.href}`);
        const memberPage = await memberContext.newPage();
        await memberPage.goto(link.href);
        await see(memberPage, memberPage.getByRole('heading', { name: 'Set your password' }), 'the invitation page');
        await memberPage.getByLabel('New password', { exact: true }).fill(member.password);
        await memberPage.getByLabel('Repeat the password', { exact: true }).fill(member.password);
        await memberPage.getByRole('button', { name: 'Set password' }).click();
        await waitForPage(memberPage, (u) => u.pathname === '/login', 'the sign-in page after setting the password');
        await memberPage.getByLabel('E-mail', { exact: true }).fill(member.email);
        await memberPage.getByLabel('Password', { exact: true }).fill(member.password);
        await memberPage.getByRole('button', { name: 'Sign in', exact: true }).click();
        await waitForPage(memberPage, (u) => u.pathname === '/app', 'the member signed in');
        invited = true;

        // The owner gives them "front desk" until this time tomorrow (the browser's own time).
        await page.reload();
        const row = memberRow(page);
        await see(page, row.getByText('Active', { exact: true }), 'the member listed as active');
        await row.getByText('Add role', { exact: true }).click();
        await row.getByLabel('Role', { exact: true }).selectOption({ label: 'front desk' });
        const tomorrow = await page.evaluate((dayMs) => {
          const d = new Date(Date.now() + dayMs);
          const p = (n) => String(n).padStart(2, '0');
          return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
        }, DAY_MS);
        const typedAt = Date.now();
        await row.getByLabel(/^Expires at/).fill(tomorrow);
        await row.getByRole('button', { name: 'Give role' }).click();
        await see(page, page.getByRole('status').filter({ hasText: `${member.name} now has the role "front desk" until` }),
          'the grant confirmed');
        await see(page, memberRow(page).locator('.member-role', { hasText: 'front desk' }).getByText(/^until /),
          'the role listed with its end');

        // The expiry the server stored is the moment typed, in the browser's zone.
        // (asked from the page: Node does not resolve *.localhost)
        const staff = await page.evaluate(() => fetch('/api/staff', { headers: { Accept: 'application/json' } })
          .then((r) => r.json().then((json) => ({ status: r.status, json }))));
        assert.equal(staff.status, 200);
        const body = staff.json;
        const list = Array.isArray(body) ? body : body.staff || body.items;
        const me = list.find((m) => m.email === member.email);
        const role = me.roles.find((r) => r.name === 'front desk');
        assert.ok(role?.expires_at, `front desk has an expiry: ${JSON.stringify(me.roles)}`);
        const expiresAt = new Date(role.expires_at);
        const expected = Math.floor((typedAt + DAY_MS) / 60_000) * 60_000; // minutes, as typed
        assert.ok(Math.abs(expiresAt.getTime() - expected) <= 2 * 60_000,
          `expires_at ${role.expires_at} is a day after ${new Date(typedAt).toISOString()}`);
        granted = { expiresAt };
        await page.screenshot({ path: path.join(RESULTS, 'rbac-team.png'), fullPage: true });
      } finally {
        await memberContext.close();
        await context.close();
      }
    });

  test('the owner finds the grant in the audit log, verifies the chain and exports it',
    { timeout: TEST_MS }, async () => {
      assert.ok(granted, 'the team test above gave the role');
      const { context, page } = await ownerPage();
      try {
        await openFromNav(page, 'Audit log', '/app/audit');
        await see(page, page.locator('#audit-body tr.audit-entry').first(), 'entries in the log');

        await page.getByLabel('Resource', { exact: true }).fill('user_roles');
        await page.getByRole('button', { name: 'Filter', exact: true }).click();
        await waitForPage(page, (u) => u.searchParams.get('resource') === 'user_roles', 'the filtered log');
        assert.equal(new URL(page.url()).searchParams.has('actor'), false, 'empty filters stay out of the address');
        const entry = page.locator('#audit-body tr.audit-entry', { hasText: 'user_roles' }).first();
        await see(page, entry, 'the grant of the role in the log');
        assert.match(await entry.innerText(), new RegExp(owner.name), 'the owner did it');
        // Changes to roles are risky: a badge that says so in words.
        assert.match(await entry.locator('.badge').innerText(), /^(Low|Medium|High|No) risk$/);

        await entry.getByRole('button', { name: /^Details of entry/ }).click();
        const detail = page.locator('#audit-body tr.audit-detail:not([hidden])').first();
        await see(page, detail.getByRole('table', { name: 'What changed' }), 'the details of the entry');
        assert.match(await detail.innerText(), /front desk|expires_at/, 'the details show the grant');
        await page.screenshot({ path: path.join(RESULTS, 'rbac-audit.png'), fullPage: true });

        await page.getByRole('button', { name: 'Verify chain' }).click();
        await see(page, page.getByRole('status').filter({ hasText: /^Chain intact: \d+ entr/ }), 'the chain verified');

        const exportLink = page.getByRole('link', { name: /Export CSV/ });
        const href = new URL(await exportLink.getAttribute('href'), page.url());
        assert.equal(href.pathname, '/api/audit-logs/export');
        assert.equal(href.searchParams.get('resource'), 'user_roles', 'the export uses the same filters');
        const [download] = await Promise.all([page.waitForEvent('download'), exportLink.click()]);
        assert.match(download.suggestedFilename(), /\.csv$/);
        const csv = await readFile(await download.path(), 'utf8');
        const lines = csv.trim().split(/\r?\n/);
        assert.match(lines[0], /^id,at,actor_type/, 'the CSV has its header');
        assert.ok(lines.length >= 2 && lines.slice(1).every((l) => l.includes('user_roles')),
          `only the filtered entries are exported:\n${csv.slice(0, 800)}`);

        // The member's role can be taken away again on the team page.
        await openFromNav(page, 'Team', '/app/team');
        const row = memberRow(page);
        page.once('dialog', (d) => d.accept());
        await row.getByRole('button', { name: `Remove the role front desk from ${member.name}` }).click();
        await see(page, page.getByRole('status').filter({ hasText: `${member.name} no longer has the role "front desk"` }),
          'the role taken away');
        await see(page, memberRow(page).getByText('No role', { exact: true }), 'the member without a role');
      } finally {
        await context.close();
      }
    });

  test('a role of the studio\'s own inherits from front desk and gets its own permissions',
    { timeout: TEST_MS }, async () => {
      const { context, page } = await ownerPage();
      try {
        await openFromNav(page, 'Roles', '/app/roles');
        const table = page.locator('#roles-body');
        await see(page, table.locator('tr', { hasText: 'front desk' }).getByText('Built-in'), 'the built-in roles');

        // A new role, inheriting from front desk.
        await page.getByRole('button', { name: 'New role' }).click();
        await page.getByLabel('Name', { exact: true }).fill('Senior desk');
        await page.getByLabel('Description').fill('Front desk who also look after the rooms');
        await page.getByLabel('Inherits from').selectOption({ label: 'front desk (built-in)' });
        await page.getByRole('button', { name: 'Create role' }).click();
        await see(page, page.getByRole('heading', { name: 'Permissions of “Senior desk”' }), 'the grid of the new role');
        const senior = table.locator('tr', { hasText: 'Senior desk' });
        assert.match(await senior.innerText(), /front desk/, 'the parent is shown');
        assert.match(await senior.innerText(), /Custom/);

        // Inherited: ticked, greyed, and marked; its own: free to tick.
        const inherited = page.getByRole('checkbox', { name: /^Bookings: view/ });
        assert.equal(await inherited.isChecked(), true);
        assert.equal(await inherited.isDisabled(), true);
        assert.match(await inherited.locator('xpath=..').innerText(), /inherited/);
        const roomsUpdate = page.getByRole('checkbox', { name: 'Rooms: update', exact: true });
        assert.equal(await roomsUpdate.isChecked(), false);
        await roomsUpdate.focus();
        await page.keyboard.press('Space'); // a real checkbox: the keyboard ticks it
        assert.equal(await roomsUpdate.isChecked(), true);
        await page.getByRole('button', { name: 'Save permissions' }).click();
        await see(page, page.getByRole('status').filter({ hasText: 'now has 1 permission of its own' }), 'the grid saved');
        await page.reload();
        await see(page, page.getByRole('heading', { name: 'Permissions of “Senior desk”' }), 'the grid again after a reload');
        assert.equal(await page.getByRole('checkbox', { name: 'Rooms: update', exact: true }).isChecked(), true);

        // A role below it; making it Senior desk's parent would close a loop: refused, and said.
        await page.getByRole('button', { name: 'New role' }).click();
        await page.getByLabel('Name', { exact: true }).fill('Trainee desk');
        await page.getByLabel('Inherits from').selectOption({ label: 'Senior desk' });
        await page.getByRole('button', { name: 'Create role' }).click();
        await see(page, page.getByRole('heading', { name: 'Permissions of “Trainee desk”' }), 'the second role');
        log.expectedHttpErrors.push({ url: `${studioOrigin()}/api/roles/`, statuses: [422] });
        await page.getByRole('button', { name: 'Edit Senior desk' }).click();
        await page.getByLabel('Inherits from').selectOption({ label: 'Trainee desk' });
        await page.getByRole('button', { name: 'Save role' }).click();
        await see(page, page.locator('#role-form-error').filter({ hasText: /cannot inherit/ }), 'the loop refused');
        await page.getByRole('button', { name: 'Cancel' }).click();

        page.once('dialog', (d) => d.accept());
        await page.getByRole('button', { name: 'Delete Trainee desk' }).click();
        await see(page, page.getByRole('status').filter({ hasText: 'was deleted' }), 'the role deleted');
        await table.locator('tr', { hasText: 'Trainee desk' }).waitFor({ state: 'detached' });
        await page.screenshot({ path: path.join(RESULTS, 'rbac-roles.png'), fullPage: true });
      } finally {
        await context.close();
      }
    });

  test('the team, roles and audit pages are usable on a phone (375x667)', { timeout: TEST_MS }, async () => {
    const { context, page } = await ownerPage({ viewport: PHONE });
    try {
      const checks = [
        ['/app/team', async () => {
          await see(page, page.locator('#staff-body tr').first(), 'the team');
          if (invited) {
            const row = memberRow(page);
            await row.getByText('Add role', { exact: true }).click();
            return [row.getByLabel('Role', { exact: true }), row.getByLabel(/^Expires at/),
              row.getByRole('button', { name: 'Give role' })];
          }
          return [page.getByRole('button', { name: 'Send invitation' })];
        }],
        ['/app/roles', async () => {
          await page.getByRole('button', { name: 'Permissions of Senior desk' }).click();
          await see(page, page.getByRole('checkbox', { name: 'Rooms: update', exact: true }), 'the grid');
          return [page.getByRole('button', { name: 'New role' }), page.getByRole('button', { name: 'Save permissions' })];
        }],
        ['/app/audit', async () => {
          const first = page.locator('#audit-body tr.audit-entry').first();
          await see(page, first, 'entries in the log');
          await first.getByRole('button', { name: /^Details of entry/ }).click();
          return [page.getByLabel('Search', { exact: true }), page.getByRole('button', { name: 'Filter', exact: true }),
            page.getByRole('button', { name: 'Verify chain' }), page.getByRole('link', { name: /Export CSV/ })];
        }],
      ];
      for (const [pathname, open] of checks) {
        await page.goto(`${studioOrigin()}${pathname}`);
        const controls = await open();
        for (const c of controls) {
          await c.scrollIntoViewIfNeeded();
          const box = await c.boundingBox();
          assert.ok(box && box.x >= 0 && box.x + box.width <= PHONE.width && box.height >= 24,
            `${pathname}: a control fits the phone's width and can be tapped: ${JSON.stringify(box)}`);
        }
        const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(scrollWidth <= PHONE.width, `${pathname}: no sideways scrolling: scrollWidth=${scrollWidth}`);
        await page.screenshot({ path: path.join(RESULTS, `rbac-phone${pathname.replace(/\//g, '-')}.png`), fullPage: true });
      }
    } finally {
      await context.close();
    }
  });

  test('a platform admin signs in with a TOTP code and suspends a studio', { timeout: TEST_MS }, async () => {
    const out = execFileSync(process.env.STUDIOD_BIN,
      ['admin', 'create', '--email', admin.email, '--password', admin.password],
      { env: process.env, encoding: 'utf8', timeout: STEP_MS });
    const secret = /^secret:\s+([A-Z2-7]+)/m.exec(out)?.[1] ||
      /[?&]secret=([A-Z2-7]+)/i.exec(out)?.[1];
    assert.ok(secret, `admin create printed the TOTP secret:\n${out}`);

    const context = await newContext();
    const page = await context.newPage();
    try {
      const home = await page.goto(`${studioOrigin(other.slug)}/`);
      assert.equal(home.status(), 200, 'the studio is open before');

      await page.goto(`${base()}/admin/login`);
      await page.getByLabel('E-mail', { exact: true }).fill(admin.email);
      await page.getByLabel('Password', { exact: true }).fill(admin.password);
      await page.getByLabel(/6-digit code/).fill(totp(secret));
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await waitForPage(page, (u) => u.pathname.startsWith('/admin/') && u.pathname !== '/admin/login',
        'the admin pages after signing in');

      await page.goto(`${base()}/admin/studios/${other.slug}`);
      await see(page, page.getByRole('heading', { level: 1, name: new RegExp(other.studioName) }), 'the studio page');
      page.once('dialog', (d) => d.accept()); // "Suspend this studio?"
      await page.getByRole('button', { name: 'Suspend the studio' }).click();
      await see(page, page.getByRole('status').filter({ hasText: 'The studio is suspended.' }), 'the suspension confirmed');
      await see(page, page.getByRole('button', { name: 'Reactivate the studio' }), 'the reactivate button');

      // The studio's site says so once the tenant cache lets go (up to 5 s).
      log.expectedHttpErrors.push({ url: studioOrigin(other.slug), statuses: [403] });
      const heading = page.getByRole('heading', { name: 'This studio is suspended' });
      const deadline = Date.now() + SUSPEND_MS;
      let res = await page.goto(`${studioOrigin(other.slug)}/`);
      while (!(await heading.isVisible()) && Date.now() < deadline) {
        await delay(500); // poll interval, bounded by the deadline above
        res = await page.reload();
      }
      await see(page, heading, `the suspended page within ${SUSPEND_MS} ms`);
      assert.equal(res.status(), 403);
      await page.screenshot({ path: path.join(RESULTS, 'admin-suspended.png'), fullPage: true });
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
