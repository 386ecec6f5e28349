/*
 * payments.js — the staff settings page "Payments" (templates/staff/payments.html):
 * the studio's Stripe account from GET /api/payments/status, "Connect Stripe"
 * (POST /api/payments/connect, then the browser goes to Stripe's onboarding
 * link), and "Check again" (status?refresh=1, which reads the account from
 * Stripe). Coming back from onboarding (?onboarding=return) refreshes at once.
 */
(function () {
  'use strict';

  var root = document.querySelector('[data-page="payments"]');
  if (!root) return;
  var ui = window.studiod;
  var $ = ui.$, show = ui.show, setText = ui.setText, api = ui.api;

  function yes(v, on, off) { return v ? on : off; }

  function fail(r, fallback) {
    show($('payments-status'), false);
    var e = $('payments-error');
    e.textContent = r ? ui.errorMessage(r, fallback) : ui.NETWORK;
    show(e, true);
  }

  function render(s) {
    show($('payments-error'), false);
    show($('payments-status'), false);
    setText('pay-account', s.connected ? s.account_id : 'Not connected');
    setText('pay-charges', yes(s.charges_enabled, 'Enabled', 'Not enabled yet'));
    setText('pay-payouts', yes(s.payouts_enabled, 'Enabled', 'Not enabled yet'));
    setText('pay-details', yes(s.details_submitted, 'Sent', 'Not yet'));
    var plan = s.plan || {};
    var bps = Number(plan.application_fee_bps) || 0;
    setText('pay-fee', (bps / 100).toLocaleString(undefined, { maximumFractionDigits: 2 }) +
      '% of each deposit' + (plan.name ? ' (' + plan.name + ' plan)' : ''));
    var summary;
    if (!s.configured) summary = 'Online payment is not available on this server (no Stripe key is configured). Customers are told to contact the studio.';
    else if (s.can_take_payments) summary = 'Customers can pay deposits online.';
    else if (s.connected) summary = 'Finish setting up your Stripe account to take payments online.';
    else summary = 'Connect a Stripe account to take deposits online.';
    setText('pay-summary', summary);
    var connect = $('connect-stripe');
    connect.textContent = s.connected ? 'Continue Stripe setup' : 'Connect Stripe';
    connect.disabled = !s.configured;
    show(connect, !s.can_take_payments);
    show($('refresh-stripe'), s.connected);
    show($('payments-details'), true);
  }

  function load(refresh) {
    return api('GET', '/api/payments/status' + (refresh ? '?refresh=1' : '')).then(function (r) {
      if (!r.ok) return fail(r, 'The payment settings could not be loaded.');
      render(r.data || {});
    }).catch(function () { fail(null); });
  }

  function connect() {
    var b = $('connect-stripe');
    b.disabled = true;
    b.textContent = 'Opening Stripe…';
    api('POST', '/api/payments/connect', {}).then(function (r) {
      if (!r.ok || !r.data || !r.data.url) {
        b.disabled = false;
        b.textContent = 'Connect Stripe';
        return fail(r, 'Stripe could not be reached. Try again in a moment.');
      }
      window.location.assign(r.data.url);
    }).catch(function () {
      b.disabled = false;
      b.textContent = 'Connect Stripe';
      fail(null);
    });
  }

  $('connect-stripe').addEventListener('click', connect);
  $('refresh-stripe').addEventListener('click', function () { load(true); });
  var back = new URLSearchParams(window.location.search).get('onboarding');
  load(back === 'return' || back === 'refresh');
})();
