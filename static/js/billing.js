/*
 * billing.js — the billing page (templates/staff/billing.html), no
 * framework: the studio's plan and status (GET /api/billing/subscription),
 * a bar per plan limit (GET /api/billing/usage) and a card per plan
 * (GET /api/billing/plans) whose button subscribes (POST
 * /api/billing/create-checkout, then the browser goes to Stripe Checkout),
 * upgrades (POST /api/billing/upgrade) or downgrades at the end of the
 * period (POST /api/billing/downgrade); cancel at period end (POST
 * /api/billing/cancel) and the Customer Portal (a link to
 * /api/billing/portal, which redirects). Unsafe requests carry
 * X-CSRF-Token (ui.api). Money is shown in the plan's currency.
 */
(function () {
  'use strict';

  var root = document.querySelector('[data-page="billing"]');
  if (!root) return;

  var ui = window.studiod;
  var $ = ui.$, el = ui.el, message = ui.message, errorMessage = ui.errorMessage;
  var TZ = ui.pageZone();
  var LIMIT_TEXT = { rooms: 'Rooms', staff: 'Staff members', bookings_per_month: 'Bookings this month',
    ai_credits: 'AI credits this month' };
  var STATUS_TEXT = { trial: 'Trial', active: 'Active' };
  var state = { sub: null, plans: [] };

  function count(n) { return Number(n).toLocaleString(); }

  function fail(r, fallback) { message('billing-error', errorMessage(r, fallback)); }

  /* ---- the current plan ------------------------------------------------------ */

  function planName(id) {
    var p = state.plans.filter(function (x) { return x.id === id; })[0];
    return p ? p.name : (id || '—');
  }

  function showSubscription() {
    var d = state.sub;
    if (!d) return;
    var s = d.subscription;
    ui.setText('b-plan', planName(d.plan_id) + (s ? ' (' + s.billing_period + ')' : ''));
    var status = STATUS_TEXT[d.status] || d.status;
    if (d.read_only) status = 'Trial ended — read-only';
    else if (s && s.status === 'past_due') status = 'Payment overdue';
    ui.setText('b-status', status);
    if (s && s.current_period_end && (s.status === 'active' || s.status === 'trialing' || s.status === 'past_due')) {
      ui.setText('b-period-label', s.cancel_at_period_end ? 'Ends' : 'Renews');
      ui.setText('b-period', ui.instantLabel(s.current_period_end, TZ));
    } else {
      ui.setText('b-period-label', 'Trial ends');
      ui.setText('b-period', d.trial_ends_at ? ui.instantLabel(d.trial_ends_at, TZ) : '—');
    }
    var note = '';
    if (d.read_only) note = 'The trial has ended: the back office is read-only and online booking is paused until you choose a plan. Nothing was deleted.';
    else if (s && s.scheduled_plan_id) note = 'Moves to ' + planName(s.scheduled_plan_id) + ' at the end of the period.';
    else if (s && s.cancel_at_period_end) note = 'The subscription ends at the end of the period.';
    ui.setText('b-note', note);
    var live = s && (s.status === 'active' || s.status === 'trialing' || s.status === 'past_due');
    ui.show($('b-cancel'), !!(live && !s.cancel_at_period_end));
    $('billing-summary').setAttribute('aria-busy', 'false');
  }

  function loadSubscription() {
    return ui.api('GET', '/api/billing/subscription').then(function (r) {
      if (!r.ok) { fail(r, 'The subscription could not be loaded.'); return; }
      state.sub = r.data;
      if (r.data.subscription) $('b-billing-period').value = r.data.subscription.billing_period;
    }, function () { message('billing-error', ui.NETWORK); });
  }

  /* ---- usage ----------------------------------------------------------------- */

  function loadUsage() {
    return ui.api('GET', '/api/billing/usage').then(function (r) {
      if (!r.ok) { fail(r, 'The usage could not be loaded.'); return; }
      var list = $('usage');
      list.textContent = '';
      Object.keys(LIMIT_TEXT).forEach(function (k) {
        var u = r.data.limits[k];
        if (!u) return;
        var unlimited = u.allowed === null;
        var bar = el('progress', { max: unlimited ? 1 : Math.max(u.allowed, 1), value: unlimited ? 0 : Math.min(u.used, u.allowed),
          'aria-label': LIMIT_TEXT[k] });
        list.appendChild(el('li', { 'data-limit': k }, [
          el('span', { class: 'usage-name' }, [LIMIT_TEXT[k] + ': ']),
          el('span', { class: 'usage-count' }, [count(u.used) + (unlimited ? ' (unlimited)' : ' of ' + count(u.allowed))]),
          ' ', bar
        ]));
      });
    }, function () { message('billing-error', ui.NETWORK); });
  }

  /* ---- plans ----------------------------------------------------------------- */

  function act(btn, method, url, body, then) {
    btn.disabled = true;
    message('billing-error', '');
    ui.api(method, url, body).then(function (r) {
      btn.disabled = false;
      if (!r.ok) { fail(r, 'That did not work.'); return; }
      then(r);
    }, function () { btn.disabled = false; message('billing-error', ui.NETWORK); });
  }

  function refresh() { return Promise.all([loadSubscription(), loadUsage()]).then(showAll); }

  function planButton(p) {
    var period = $('b-billing-period').value;
    var d = state.sub || {};
    var s = d.subscription;
    var live = s && (s.status === 'active' || s.status === 'trialing' || s.status === 'past_due');
    if (!live) {
      return ui.button('Subscribe', '', function (b) {
        act(b, 'POST', '/api/billing/create-checkout', { plan_id: p.id, billing_period: period }, function (r) {
          window.location.assign(r.data.checkout_url);
        });
      }, 'Subscribe to ' + p.name);
    }
    var cur = state.plans.filter(function (x) { return x.id === d.plan_id; })[0];
    if (p.id === d.plan_id && period === s.billing_period) return el('span', { class: 'badge' }, ['Current plan']);
    var up = !cur || p.position > cur.position || (p.position === cur.position && period === 'yearly');
    if (up) {
      return ui.button('Upgrade now', '', function (b) {
        act(b, 'POST', '/api/billing/upgrade', { plan_id: p.id, billing_period: period }, refresh);
      }, 'Upgrade to ' + p.name);
    }
    return ui.button('Downgrade at period end', 'button--secondary', function (b) {
      act(b, 'POST', '/api/billing/downgrade', { plan_id: p.id, billing_period: period, when: 'period_end' }, refresh);
    }, 'Downgrade to ' + p.name);
  }

  function limitText(v, what) { return (v === null ? 'Unlimited' : count(v)) + ' ' + what; }

  function showPlans() {
    var list = $('plans');
    list.textContent = '';
    var period = $('b-billing-period').value;
    state.plans.forEach(function (p) {
      var price = period === 'yearly' ? p.prices.yearly : p.prices.monthly;
      list.appendChild(el('li', { class: 'card pack', 'data-plan': p.id }, [
        el('h3', {}, [p.name]),
        el('p', { class: 'price' }, [ui.money(price, p.currency) + (period === 'yearly' ? ' a year' : ' a month')]),
        el('ul', {}, [
          el('li', {}, [limitText(p.limits.rooms, 'rooms')]),
          el('li', {}, [limitText(p.limits.staff, 'staff members')]),
          el('li', {}, [limitText(p.limits.bookings_per_month, 'bookings a month')]),
          el('li', {}, [limitText(p.limits.ai_credits, 'AI credits a month')])
        ]),
        planButton(p)
      ]));
    });
  }

  function showAll() { showSubscription(); showPlans(); }

  function loadPlans() {
    return ui.api('GET', '/api/billing/plans').then(function (r) {
      if (!r.ok) { fail(r, 'The plans could not be loaded.'); return; }
      state.plans = r.data.plans;
    }, function () { message('billing-error', ui.NETWORK); });
  }

  $('b-billing-period').addEventListener('change', showPlans);
  $('b-cancel').addEventListener('click', function (e) {
    if (!window.confirm('Cancel the subscription at the end of the current period?')) return;
    act(e.target, 'POST', '/api/billing/cancel', {}, refresh);
  });

  Promise.all([loadPlans(), loadSubscription(), loadUsage()]).then(showAll);
})();
