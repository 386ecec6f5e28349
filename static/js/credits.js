/*
 * credits.js — the AI credits page (templates/staff/credits.html), no
 * framework: the balance (GET /api/billing/credits), the packs on sale
 * (GET /api/billing/credits/packs) with a Buy button each for those who may
 * buy, and the ledger a page at a time (GET /api/billing/credits/history).
 *
 * Buying posts {"pack_id"} to /api/billing/credits/purchase with an
 * Idempotency-Key made once per click, so a retried request opens the same
 * Checkout Session; the browser then goes to the Checkout URL. The credits
 * arrive when Stripe tells studiod the payment went through (the webhook),
 * which may be a moment after the buyer comes back: a success return says so.
 */
(function () {
  'use strict';

  var root = document.querySelector('[data-page="credits"]');
  if (!root) return;

  var ui = window.studiod;
  var $ = ui.$, el = ui.el, show = ui.show, message = ui.message, errorMessage = ui.errorMessage;
  var TZ = ui.pageZone();
  var CAN_BUY = root.getAttribute('data-can-buy') === '1';
  var PAGE = 20;
  var KIND_TEXT = { purchase: 'Bought', monthly_grant: 'Monthly allowance', expiry: 'Expired',
    spend: 'Used', refund: 'Refunded', adjustment: 'Adjustment' };
  var offset = 0;

  function count(n) { return Number(n).toLocaleString(); }

  function signed(n) { return (n > 0 ? '+' : n < 0 ? '−' : '') + count(Math.abs(n)); }

  function key() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return String(Date.now()) + '-' + String(Math.random()).slice(2);
  }

  /* ---- the balance -------------------------------------------------------- */

  function loadSummary() {
    return ui.api('GET', '/api/billing/credits').then(function (r) {
      if (!r.ok) { message('credits-error', errorMessage(r, 'The balance could not be loaded.')); return; }
      var d = r.data;
      ui.setText('c-balance', count(d.balance));
      ui.setText('c-used', count(d.used_this_month));
      ui.setText('c-allowance', count(d.allowance_balance) + ' of ' + count(d.monthly_allowance));
      ui.setText('c-purchased', count(d.purchased_balance));
      ui.setText('c-expires', d.monthly_allowance > 0
        ? 'What is left of this month\'s allowance expires ' + ui.instantLabel(d.allowance_expires_at, TZ, false) + '.'
        : 'Your plan has no monthly allowance.');
      $('credits-summary').setAttribute('aria-busy', 'false');
    }, function () { message('credits-error', ui.NETWORK); });
  }

  /* ---- packs and buying ---------------------------------------------------- */

  function buy(pack, btn) {
    btn.disabled = true;
    message('credits-error', '');
    var idem = btn.getAttribute('data-key') || key();
    btn.setAttribute('data-key', idem);
    ui.api('POST', '/api/billing/credits/purchase', { pack_id: pack.id }, { 'Idempotency-Key': idem })
      .then(function (r) {
        if (r.ok && r.data && r.data.checkout_url) {
          window.location.assign(r.data.checkout_url);
          return;
        }
        btn.disabled = false;
        message('credits-error', errorMessage(r, 'The purchase could not be started.'));
      }, function () {
        btn.disabled = false;
        message('credits-error', ui.NETWORK);
      });
  }

  function loadPacks() {
    show($('packs-hint'), !CAN_BUY);
    return ui.api('GET', '/api/billing/credits/packs').then(function (r) {
      if (!r.ok) { message('credits-error', errorMessage(r, 'The packs could not be loaded.')); return; }
      var list = $('packs');
      list.textContent = '';
      ui.listOf(r.data, 'packs').forEach(function (p) {
        var label = p.name + ' for ' + ui.money(p.amount, p.currency);
        list.appendChild(el('li', { className: 'pack' }, [
          el('span', { className: 'pack__name', text: p.name }),
          el('span', { className: 'pack__price', text: ui.money(p.amount, p.currency) }),
          CAN_BUY ? ui.button('Buy', 'button', function (b) { buy(p, b); }, 'Buy ' + label) : null
        ]));
      });
    }, function () { message('credits-error', ui.NETWORK); });
  }

  /* ---- history ------------------------------------------------------------ */

  function details(e) {
    if (e.kind === 'purchase' && e.amount !== undefined) return e.reason + ' (' + ui.money(e.amount, e.currency) + ')';
    return e.reason;
  }

  function loadHistory() {
    ui.setText('history-status', 'Loading…');
    return ui.api('GET', '/api/billing/credits/history?limit=' + PAGE + '&offset=' + offset).then(function (r) {
      if (!r.ok) { ui.setText('history-status', errorMessage(r, 'The history could not be loaded.')); return; }
      var d = r.data, body = $('history-body');
      body.textContent = '';
      d.entries.forEach(function (e) {
        body.appendChild(el('tr', null, [
          el('td', { text: ui.instantLabel(e.created_at, TZ, true) }),
          el('td', { text: KIND_TEXT[e.kind] || e.kind }),
          el('td', { text: details(e) }),
          el('td', { className: 'num', text: signed(e.delta) })
        ]));
      });
      show($('history-table'), d.entries.length > 0);
      ui.setText('history-status', d.total === 0 ? 'Nothing yet.' : '');
      var pages = Math.max(1, Math.ceil(d.total / PAGE));
      ui.setText('page-info', 'Page ' + (Math.floor(offset / PAGE) + 1) + ' of ' + pages);
      $('page-prev').disabled = offset === 0;
      $('page-next').disabled = offset + PAGE >= d.total;
      show($('history-pager'), d.total > PAGE);
    }, function () { ui.setText('history-status', ui.NETWORK); });
  }

  $('page-prev').addEventListener('click', function () { offset = Math.max(0, offset - PAGE); loadHistory(); });
  $('page-next').addEventListener('click', function () { offset += PAGE; loadHistory(); });

  /* ---- coming back from Checkout ------------------------------------------ */

  var back = new URLSearchParams(location.search).get('purchase');
  if (back === 'success') {
    message('credits-return', 'Thank you: your credits are added as soon as the payment is confirmed (usually within a minute).');
  } else if (back === 'cancelled') {
    message('credits-return', 'The purchase was cancelled; nothing was charged.');
  }

  loadSummary();
  loadPacks();
  loadHistory();
})();
