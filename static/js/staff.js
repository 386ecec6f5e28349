/*
 * staff.js — the staff pages of a studio, no framework. Each page's root
 * element names it (data-page): "calendar", "bookings", "booking",
 * "settings"; the functions below fill it from the JSON APIs.
 *
 * Unsafe requests carry X-CSRF-Token from <meta name="csrf-token"> (the
 * session's token, rendered by the server). Times are shown in the studio's
 * zone (<meta name="studio-timezone">), not the browser's; money arrives as
 * integer minor units and is shown, and typed, with the currency's decimals.
 */
(function () {
  'use strict';

  var root = document.querySelector('[data-page="calendar"], [data-page="bookings"], ' +
    '[data-page="booking"], [data-page="settings"]');
  if (!root) return;

  var ui = window.studiod;
  var $ = ui.$, el = ui.el, show = ui.show, setText = ui.setText, message = ui.message, api = ui.api,
    errorMessage = ui.errorMessage, humanize = ui.humanize, listOf = ui.listOf, objectOf = ui.objectOf,
    showFieldErrors = ui.showFieldErrors, clearFieldErrors = ui.clearFieldErrors,
    money = ui.money, toMajor = ui.toMajor, toMinor = ui.toMinor, dateLabel = ui.dateLabel, addDays = ui.addDays;
  var NETWORK = ui.NETWORK, STATUS_LABELS = ui.STATUS_LABELS;
  var CURRENCY = ui.meta('studio-currency') || 'EUR';
  var TZ = ui.pageZone();
  var WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

  /* ---- money ------------------------------------------------------------- */

  // {amount, currency} of a booking's price, whatever the shape.
  function priceOf(b, key) {
    var v = b[key];
    if (v && typeof v === 'object') return { amount: v.amount, currency: v.currency || b.currency };
    if (typeof v === 'number') return { amount: v, currency: b.currency };
    if (typeof b[key + '_amount'] === 'number') return { amount: b[key + '_amount'], currency: b.currency };
    return { amount: null, currency: b.currency };
  }

  // What was paid, in minor units: lists say paid_amount, the detail {"paid": {amount}}.
  function paidOf(b) {
    if (typeof b.paid_amount === 'number') return b.paid_amount;
    return b.paid && typeof b.paid === 'object' ? Number(b.paid.amount) || 0 : 0;
  }

  /* ---- time (in the studio's zone) --------------------------------------- */

  // {date: "YYYY-MM-DD", minutes: since local midnight} of an instant.
  function local(when) { return ui.localParts(when, TZ); }

  function timeLabel(iso) { return ui.timeLabel(iso, TZ); }

  function whenLabel(s, e) {
    if (!s) return '';
    var a = local(s);
    var text = dateLabel(a.date, 'day') + ' ' + timeLabel(s);
    if (e) {
      var b = local(e);
      text += '–' + (b.date === a.date || (b.minutes === 0 && addDays(a.date, 1) === b.date)
        ? timeLabel(e) : dateLabel(b.date, 'day') + ' ' + timeLabel(e));
    }
    return text;
  }

  function dateTimeLabel(iso) { return iso ? dateLabel(local(iso).date, 'day') + ' ' + timeLabel(iso) : ''; }

  function isoWeekday(ymd) { return new Date(ymd + 'T12:00:00Z').getUTCDay() || 7; }

  function hhmm(minutes) {
    var h = Math.floor(minutes / 60), m = minutes % 60;
    return (h < 10 ? '0' : '') + h + ':' + (m < 10 ? '0' : '') + m;
  }

  function parseHHMM(s) {
    var m = /^([01]?\d|2[0-4]):([0-5]\d)(:\d\d)?$/.exec(String(s || '').trim());
    if (!m) return NaN;
    var v = Number(m[1]) * 60 + Number(m[2]);
    return v > 1440 ? NaN : v;
  }

  function statusBadge(status, id) {
    return el('span', { id: id || null, className: 'badge badge--' + String(status || '').replace(/[^a-z_]/g, ''),
      text: ui.statusLabel(status) });
  }

  function loadRooms() {
    return api('GET', '/api/rooms?include_archived=true').then(function (r) {
      if (!r.ok) throw r;
      return listOf(r.data, 'rooms');
    });
  }

  function colorOf(room) {
    return room && /^#[0-9a-fA-F]{6}$/.test(room.color || '') ? room.color : '#3b5bdb';
  }

  /* ---- calendar ---------------------------------------------------------- */

  function calendarPage() {
    var params = new URLSearchParams(location.search);
    var state = {
      view: params.get('view') === 'week' ? 'week' : 'day',
      date: /^\d{4}-\d{2}-\d{2}$/.test(params.get('date') || '') ? params.get('date') : local(new Date()).date,
      rooms: [],
      hours: null, // {weekday: [{opens, closes}]} in minutes
      seq: 0,
    };
    var PAGE = 100;

    function range() {
      if (state.view === 'day') return { from: state.date, days: 1 };
      return { from: addDays(state.date, 1 - isoWeekday(state.date)), days: 7 };
    }

    function fetchBookings(from, to) {
      var items = [];
      function page(offset) {
        return api('GET', '/api/bookings?status=pending,confirmed,completed&sort=starts_at&from=' + from +
          '&to=' + to + '&limit=' + PAGE + '&offset=' + offset)
          .then(function (r) {
            if (!r.ok) throw r;
            var got = listOf(r.data, 'items');
            items = items.concat(got);
            var total = r.data && typeof r.data.total === 'number' ? r.data.total : items.length;
            if (got.length && items.length < total && offset < 2000) return page(offset + got.length);
            return items;
          });
      }
      return page(0);
    }

    function refresh() {
      var seq = ++state.seq;
      var rg = range();
      var q = '?view=' + state.view + '&date=' + state.date;
      if (location.search !== q) history.replaceState(null, '', location.pathname + q);
      $('cal-view-day').setAttribute('aria-pressed', String(state.view === 'day'));
      $('cal-view-week').setAttribute('aria-pressed', String(state.view === 'week'));
      $('cal-prev').setAttribute('aria-label', state.view === 'day' ? 'Previous day' : 'Previous week');
      $('cal-next').setAttribute('aria-label', state.view === 'day' ? 'Next day' : 'Next week');
      $('cal-date').value = state.date;
      setText('cal-title', state.view === 'day' ? dateLabel(state.date, 'long')
        : 'Week of ' + dateLabel(rg.from, 'short'));
      setText('cal-status', 'Loading bookings…');
      message('cal-error', '');
      // The API's dates are the studio's local days, both ends included.
      fetchBookings(rg.from, addDays(rg.from, rg.days - 1)).then(function (items) {
        if (seq !== state.seq) return;
        render(rg, items.filter(function (b) { return b.status !== 'cancelled' && b.status !== 'expired'; }));
      }).catch(function (r) {
        if (seq !== state.seq) return;
        setText('cal-status', '');
        message('cal-error', r && r.status ? errorMessage(r, 'Bookings could not be loaded.') : NETWORK);
      });
    }

    // The visible hours: the opening hours of the shown days, widened to every booking.
    function axis(days, pieces) {
      var lo = Infinity, hi = -Infinity;
      days.forEach(function (d) {
        ((state.hours && state.hours[isoWeekday(d)]) || []).forEach(function (r) {
          lo = Math.min(lo, r.opens);
          hi = Math.max(hi, r.closes);
        });
      });
      pieces.forEach(function (p) { lo = Math.min(lo, p.start); hi = Math.max(hi, p.end); });
      if (lo === Infinity) { lo = 9 * 60; hi = 23 * 60; }
      lo = Math.floor(lo / 60) * 60;
      hi = Math.min(1440, Math.ceil(hi / 60) * 60);
      if (hi - lo < 120) hi = Math.min(1440, lo + 120);
      return { start: lo, end: hi };
    }

    // A booking split into the days it covers: {b, date, start, end} in local minutes.
    function pieces(items, days) {
      var out = [];
      items.forEach(function (b) {
        if (!b.starts_at || !b.ends_at) return;
        var s = local(b.starts_at), e = local(b.ends_at);
        days.forEach(function (d) {
          if (d < s.date || d > e.date) return;
          var start = d === s.date ? s.minutes : 0;
          var end = d === e.date ? e.minutes : 1440;
          if (end > start) out.push({ b: b, date: d, start: start, end: end });
        });
      });
      return out;
    }

    // Side-by-side lanes for overlapping blocks in one column.
    function lanes(list) {
      list.sort(function (a, b) { return a.start - b.start || b.end - a.end; });
      var cluster = [], clusterEnd = -1;
      function close() {
        var ends = [];
        cluster.forEach(function (p) {
          var lane = 0;
          while (ends[lane] > p.start) lane++;
          ends[lane] = p.end;
          p.lane = lane;
        });
        cluster.forEach(function (p) { p.lanes = ends.length; });
        cluster = [];
      }
      list.forEach(function (p) {
        if (p.start >= clusterEnd) { close(); clusterEnd = -1; }
        cluster.push(p);
        clusterEnd = Math.max(clusterEnd, p.end);
      });
      close();
    }

    function render(rg, items) {
      var days = [];
      for (var i = 0; i < rg.days; i++) days.push(addDays(rg.from, i));
      var all = pieces(items, days);
      var ax = axis(days, all);
      var roomById = {};
      state.rooms.forEach(function (r) { roomById[r.id] = r; });

      var columns;
      if (state.view === 'day') {
        var shown = state.rooms.filter(function (r) { return !r.archived; });
        all.forEach(function (p) {
          var id = p.b.room && p.b.room.id;
          if (id && !shown.some(function (r) { return r.id === id; })) {
            shown.push(roomById[id] || { id: id, name: p.b.room.name || 'Room' });
          }
        });
        columns = shown.map(function (r) {
          return { key: r.id, title: r.name, room: r,
            pieces: all.filter(function (p) { return p.b.room && p.b.room.id === r.id; }) };
        });
      } else {
        columns = days.map(function (d) {
          return { key: d, title: dateLabel(d, 'day'), date: d,
            pieces: all.filter(function (p) { return p.date === d; }) };
        });
      }

      var grid = $('cal-grid');
      grid.textContent = '';
      grid.className = 'cal-grid cal-grid--' + state.view;
      grid.style.setProperty('--cal-cols', String(Math.max(columns.length, 1)));
      grid.style.setProperty('--cal-hours', String((ax.end - ax.start) / 60));

      if (!columns.length) {
        grid.appendChild(el('p', { className: 'muted' }, ['No rooms yet. ',
          el('a', { href: '/app/settings#rooms-heading', text: 'Add a room in Settings' }), '.']));
        setText('cal-status', '');
        return;
      }

      // Header row: a corner, then one heading per column.
      grid.appendChild(el('div', { className: 'cal-corner', 'aria-hidden': 'true' }));
      columns.forEach(function (c) {
        var head;
        if (c.date) {
          var link = el('a', { href: '?view=day&date=' + c.date, text: c.title,
            'aria-label': 'Day view of ' + dateLabel(c.date, 'long') });
          link.addEventListener('click', function (ev) {
            ev.preventDefault();
            state.view = 'day';
            state.date = c.date;
            refresh();
            $('cal-title').focus();
          });
          head = el('div', { className: 'cal-colhead' + (c.date === local(new Date()).date ? ' cal-colhead--today' : '') },
            [el('h2', null, [link])]);
        } else {
          head = el('div', { className: 'cal-colhead' }, [el('h2', { text: c.title })]);
          head.style.setProperty('--room-color', colorOf(c.room));
        }
        grid.appendChild(head);
      });

      // Time labels.
      var times = el('div', { className: 'cal-times', 'aria-hidden': 'true' });
      for (var m = ax.start; m < ax.end; m += 60) times.appendChild(el('div', { className: 'cal-time', text: hhmm(m) }));
      grid.appendChild(times);

      var count = 0;
      columns.forEach(function (c) {
        var col = el('div', { className: 'cal-col', role: 'list', 'aria-label': c.title });
        lanes(c.pieces);
        c.pieces.forEach(function (p) {
          var b = p.b, room = roomById[b.room && b.room.id] || b.room || {};
          var who = (b.customer && b.customer.name) || '';
          var label = timeLabel(b.starts_at) + '–' + timeLabel(b.ends_at) + ', ' + (room.name || '') +
            (who ? ', ' + who : '') + ', ' + (STATUS_LABELS[b.status] || b.status || '');
          var block = el('a', { href: '/app/bookings/' + encodeURIComponent(b.id),
            className: 'cal-block cal-block--' + String(b.status || '').replace(/[^a-z_]/g, ''),
            'aria-label': label, title: label }, [
            el('span', { className: 'cal-block__time', text: timeLabel(b.starts_at) + '–' + timeLabel(b.ends_at) }),
            el('span', { className: 'cal-block__who', text: who || b.ref || '' }),
            state.view === 'week' ? el('span', { className: 'cal-block__room', text: room.name || '' }) : null,
            b.status === 'pending' ? el('span', { className: 'cal-block__status', text: 'Pending' }) : null,
          ]);
          var top = (Math.max(p.start, ax.start) - ax.start) / 60;
          var height = (Math.min(p.end, ax.end) - Math.max(p.start, ax.start)) / 60;
          block.style.setProperty('--top', String(top));
          block.style.setProperty('--len', String(Math.max(height, 0.25)));
          block.style.setProperty('--lane', String(p.lane || 0));
          block.style.setProperty('--lanes', String(p.lanes || 1));
          block.style.setProperty('--room-color', colorOf(room));
          col.appendChild(el('div', { role: 'listitem' }, [block]));
          count++;
        });
        grid.appendChild(col);
      });
      setText('cal-status', count === 0 ? 'No bookings ' + (state.view === 'day' ? 'on this day.' : 'this week.')
        : count + (count === 1 ? ' booking.' : ' bookings.'));
    }

    function move(dir) {
      state.date = addDays(state.date, dir * (state.view === 'day' ? 1 : 7));
      refresh();
    }

    $('cal-view-day').addEventListener('click', function () { state.view = 'day'; refresh(); });
    $('cal-view-week').addEventListener('click', function () { state.view = 'week'; refresh(); });
    $('cal-prev').addEventListener('click', function () { move(-1); });
    $('cal-next').addEventListener('click', function () { move(1); });
    $('cal-today').addEventListener('click', function () { state.date = local(new Date()).date; refresh(); });
    $('cal-date').addEventListener('change', function () {
      if (/^\d{4}-\d{2}-\d{2}$/.test($('cal-date').value)) { state.date = $('cal-date').value; refresh(); }
    });

    Promise.all([
      loadRooms().catch(function () { return []; }),
      api('GET', '/api/opening-hours').catch(function () { return { ok: false }; }),
    ]).then(function (rs) {
      state.rooms = rs[0];
      if (rs[1].ok && rs[1].data) {
        state.hours = {};
        listOf(rs[1].data, 'weekly').forEach(function (d) {
          state.hours[d.weekday] = (d.ranges || []).map(function (r) {
            return { opens: parseHHMM(r.opens), closes: parseHHMM(r.closes) };
          }).filter(function (r) { return !isNaN(r.opens) && !isNaN(r.closes); });
        });
      }
      refresh();
    });
  }

  /* ---- bookings list ----------------------------------------------------- */

  function bookingsPage() {
    var PAGE = 25;
    var params = new URLSearchParams(location.search);
    var keys = ['status', 'room_id', 'from', 'to', 'q', 'sort'];
    var ids = { status: 'f-status', room_id: 'f-room', from: 'f-from', to: 'f-to', q: 'f-q', sort: 'f-sort' };
    keys.forEach(function (k) { if (params.get(k)) $(ids[k]).value = params.get(k); });
    var offset = Math.max(0, parseInt(params.get('offset') || '0', 10) || 0);

    loadRooms().then(function (rooms) {
      var select = $('f-room');
      rooms.forEach(function (r) {
        select.appendChild(el('option', { value: r.id, text: r.name + (r.archived ? ' (archived)' : '') }));
      });
      if (params.get('room_id')) select.value = params.get('room_id');
    }).catch(function () { /* the filter still works by address */ });

    // Empty fields leave the address: the form submits only what is set.
    $('bookings-filters').addEventListener('submit', function () {
      keys.forEach(function (k) { var n = $(ids[k]); n.disabled = !n.value; });
      setTimeout(function () { keys.forEach(function (k) { $(ids[k]).disabled = false; }); }, 0);
    });

    var q = new URLSearchParams();
    keys.forEach(function (k) { if (params.get(k)) q.set(k, params.get(k)); });
    q.set('limit', String(PAGE));
    q.set('offset', String(offset));

    function pageHref(off) {
      var p = new URLSearchParams(location.search);
      if (off > 0) p.set('offset', String(off)); else p.delete('offset');
      var s = p.toString();
      return location.pathname + (s ? '?' + s : '');
    }

    api('GET', '/api/bookings?' + q.toString()).then(function (r) {
      if (!r.ok) {
        setText('bookings-status', '');
        message('bookings-error', errorMessage(r, 'Bookings could not be loaded.'));
        return;
      }
      var items = listOf(r.data, 'items');
      var total = r.data && typeof r.data.total === 'number' ? r.data.total : items.length;
      var body = $('bookings-body');
      body.textContent = '';
      items.forEach(function (b) {
        var price = priceOf(b, 'price');
        var c = b.customer || {};
        body.appendChild(el('tr', null, [
          el('td', { 'data-label': 'Reference' }, [el('a', { href: '/app/bookings/' + encodeURIComponent(b.id),
            text: b.ref || 'Booking', 'aria-label': 'Booking ' + (b.ref || '') + (c.name ? ', ' + c.name : '') })]),
          el('td', { 'data-label': 'When', text: whenLabel(b.starts_at, b.ends_at) }),
          el('td', { 'data-label': 'Room', text: (b.room && b.room.name) || '' }),
          el('td', { 'data-label': 'Customer' }, [el('div', null, [c.name || '',
            c.email ? el('span', { className: 'muted small', text: c.email }) : null])]),
          el('td', { 'data-label': 'Status' }, [statusBadge(b.status)]),
          el('td', { 'data-label': 'Price', text: money(price.amount, price.currency) }),
          el('td', { 'data-label': 'Paid', text: money(paidOf(b), price.currency) }),
        ]));
      });
      show($('bookings-table'), items.length > 0);
      setText('bookings-status', items.length ? '' : 'No bookings match these filters.');
      show($('bookings-status'), !items.length);
      if (total > PAGE || offset > 0) {
        show($('bookings-pager'), true);
        var prev = $('page-prev'), next = $('page-next');
        show(prev, offset > 0);
        prev.href = pageHref(Math.max(0, offset - PAGE));
        show(next, offset + items.length < total);
        next.href = pageHref(offset + PAGE);
        setText('page-info', items.length ? (offset + 1) + '–' + (offset + items.length) + ' of ' + total : '');
      }
    }).catch(function () {
      setText('bookings-status', '');
      message('bookings-error', NETWORK);
    });
  }

  /* ---- one booking ------------------------------------------------------- */

  function bookingPage() {
    var id = root.getAttribute('data-id');
    var url = '/api/bookings/' + encodeURIComponent(id);
    var booking = null;

    function load(after) {
      return api('GET', url).then(function (r) {
        if (!r.ok) {
          show($('booking-load-status'), false);
          message('booking-error', r.status === 404 ? 'No such booking.' : errorMessage(r, 'The booking could not be loaded.'));
          return;
        }
        booking = objectOf(r.data, 'booking');
        render();
        if (after) after();
      }).catch(function () {
        show($('booking-load-status'), false);
        message('booking-error', NETWORK);
      });
    }

    function render() {
      var b = booking, price = priceOf(b, 'price'), dep = priceOf(b, 'deposit');
      var c = b.customer || {};
      setText('booking-title', 'Booking ' + (b.ref || ''));
      setText('b-ref', b.ref || '');
      var st = $('booking-status');
      st.replaceWith(statusBadge(b.status, 'booking-status'));
      setText('b-room', (b.room && b.room.name) || '');
      setText('b-when', whenLabel(b.starts_at, b.ends_at));
      var cust = $('b-customer');
      cust.textContent = '';
      cust.appendChild(document.createTextNode(c.name || ''));
      if (c.email) cust.appendChild(el('span', { className: 'small' }, [el('a', { href: 'mailto:' + c.email, text: c.email })]));
      if (c.phone) cust.appendChild(el('span', { className: 'small' }, [el('a', { href: 'tel:' + c.phone, text: c.phone })]));
      setText('b-price', money(price.amount, price.currency));
      setText('b-paid', money(paidOf(b), price.currency));
      setText('b-deposit', dep.amount ? money(dep.amount, dep.currency || price.currency) : 'None');
      setText('b-source', b.source ? humanize(b.source).replace(/\.$/, '') : '');
      setText('b-notes', b.notes || '—');
      var session = b.session || b.studio_session;
      setText('b-session', session ? 'Yes' + (session.status ? ' (' + humanize(session.status).replace(/\.$/, '').toLowerCase() + ')' : '')
        : b.has_session ? 'Yes' : 'No');
      var refund = b.refund && typeof b.refund === 'object' ? b.refund.amount : b.refund_amount;
      setText('b-refund', refund !== null && refund !== undefined ? money(refund, price.currency) +
        (b.cancel_reason ? ' — ' + b.cancel_reason : '') : '—');
      // Stripe's side (src/modules/payments): a dispute, refunds done, pending or refused.
      var pay = b.payment || null, pbits = [];
      var disputed = pay && pay.disputed_at ? ' on ' + dateTimeLabel(pay.disputed_at) : '';
      if (pay && pay.flag === 'disputed') pbits.push('Disputed by the customer' + disputed);
      if (pay && pay.flag === 'dispute_won') pbits.push('Disputed by the customer' + disputed + ': dispute won');
      if (pay && pay.flag === 'dispute_lost') pbits.push('Disputed by the customer' + disputed + ': dispute lost, the money went back');
      if (pay && pay.refunded > 0) pbits.push('Refunded ' + money(pay.refunded, pay.currency));
      if (pay && pay.refund_pending > 0) pbits.push(money(pay.refund_pending, pay.currency) + ' refund pending at Stripe');
      (b.refunds || []).forEach(function (r) {
        if (r.status === 'failed') pbits.push('Refund of ' + money(r.amount, price.currency) + ' failed: ' + (r.failure_message || 'refused by Stripe'));
      });
      setText('b-payment', pbits.length ? pbits.join(' · ') : '—');
      setText('b-created', b.created_at ? dateTimeLabel(b.created_at) : '');
      if (b.status === 'pending' && b.hold_expires_at) {
        setText('b-when', whenLabel(b.starts_at, b.ends_at) + ' (held until ' + dateTimeLabel(b.hold_expires_at) + ')');
      }
      var active = b.status === 'pending' || b.status === 'confirmed';
      show($('act-confirm'), b.status === 'pending');
      show($('act-convert'), b.status === 'confirmed' && !session && !b.has_session);
      show($('act-cancel'), active);
      if (!active) closeCancel(false);
      setText('refund-hint', 'Paid so far: ' + money(paidOf(b), price.currency) + '.');
      show($('booking-load-status'), false);
      show($('booking-body'), true);
    }

    function busy(button, on, text) {
      button.disabled = on;
      if (text) button.textContent = text;
    }

    function action(button, path, body, doneText, idle) {
      message('action-error', '');
      message('action-result', '');
      busy(button, true, idle + '…');
      return api('POST', url + path, body).then(function (r) {
        busy(button, false, idle);
        if (!r.ok) {
          if (r.status === 422 && path === '/cancel') {
            showFieldErrors(r, '', 'action-error', { refund_amount: 'refund-amount', reason: 'cancel-reason' });
          } else {
            message('action-error', errorMessage(r, 'That did not work.'));
          }
          return null;
        }
        return load(function () {
          message('action-result', typeof doneText === 'function' ? doneText(r.data || {}) : doneText);
        }).then(function () { return r; });
      }).catch(function () {
        busy(button, false, idle);
        message('action-error', NETWORK);
        return null;
      });
    }

    function openCancel() {
      show($('cancel-form'), true);
      $('act-cancel').setAttribute('aria-expanded', 'true');
      $('refund-amount').focus();
    }

    function closeCancel(focus) {
      show($('cancel-form'), false);
      $('act-cancel').setAttribute('aria-expanded', 'false');
      clearFieldErrors($('cancel-form'));
      if (focus && !$('act-cancel').hidden) $('act-cancel').focus();
    }

    $('act-confirm').addEventListener('click', function () {
      action($('act-confirm'), '/confirm', {}, 'Booking confirmed. The customer gets an e-mail.', 'Confirm');
    });
    $('act-convert').addEventListener('click', function () {
      action($('act-convert'), '/convert', {}, 'Converted to a studio session.', 'Convert to session');
    });
    $('act-cancel').addEventListener('click', function () {
      if ($('cancel-form').hidden) openCancel(); else closeCancel(true);
    });
    $('cancel-keep').addEventListener('click', function () { closeCancel(true); });
    $('cancel-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var form = $('cancel-form');
      clearFieldErrors(form);
      var currency = priceOf(booking, 'price').currency;
      var body = { reason: $('cancel-reason').value.trim() };
      var text = $('refund-amount').value.trim();
      if (text) {
        var minor = toMinor(text, currency);
        var paid = paidOf(booking);
        var err = isNaN(minor) ? 'Enter an amount like ' + toMajor(1250, currency) + '.'
          : minor > paid ? 'At most what was paid (' + money(paid, currency) + ').' : null;
        if (err) {
          message('refund-amount-error', err);
          $('refund-amount').setAttribute('aria-invalid', 'true');
          $('refund-amount').focus();
          return;
        }
        body.refund_amount = minor;
      }
      var submit = form.querySelector('button[type="submit"]');
      action(submit, '/cancel', body, function (res) {
        var refund = res.refund || {};
        return 'Booking cancelled. ' + (Number(refund.amount) > 0
          ? 'Refund: ' + money(refund.amount, refund.currency || currency) + '.' +
            (refund.message ? ' ' + refund.message : '') : 'No refund.');
      }, 'Cancel booking').then(function (r) {
        if (r) {
          closeCancel(false);
          $('action-result').focus();
        }
      });
    });
    $('action-result').setAttribute('tabindex', '-1');
    load();
  }

  /* ---- settings ---------------------------------------------------------- */

  function settingsPage() {
    roomsSettings();
    policySettings();
    hoursSettings();
  }

  function roomsSettings() {
    var rooms = [];
    var form = $('room-form');

    function refresh() {
      return loadRooms().then(function (list) {
        rooms = list;
        render();
        setText('rooms-status', list.length ? '' : 'No rooms yet: add the first one below.');
        show($('rooms-status'), !list.length);
      }).catch(function (r) {
        setText('rooms-status', '');
        message('rooms-error', r && r.status ? errorMessage(r, 'Rooms could not be loaded.') : NETWORK);
      });
    }

    function render() {
      var ul = $('rooms-list');
      ul.textContent = '';
      var showArchived = $('show-archived').checked;
      rooms.filter(function (r) { return showArchived || !r.archived; }).forEach(function (r) {
        var swatch = el('span', { className: 'swatch', 'aria-hidden': 'true' });
        swatch.style.setProperty('--room-color', colorOf(r));
        var facts = [money(r.hourly_rate, r.currency) + ' / h'];
        if (r.capacity) facts.push(r.capacity + ' people');
        if (Array.isArray(r.equipment) && r.equipment.length) facts.push(r.equipment.join(', '));
        var edit = el('button', { type: 'button', className: 'button button--secondary', text: 'Edit',
          'aria-label': 'Edit ' + r.name });
        edit.addEventListener('click', function () { startEdit(r); });
        var archive = el('button', { type: 'button', className: 'button button--secondary',
          text: r.archived ? 'Restore' : 'Archive', 'aria-label': (r.archived ? 'Restore ' : 'Archive ') + r.name });
        archive.addEventListener('click', function () { toggleArchive(r, archive); });
        ul.appendChild(el('li', { className: 'room-admin' + (r.archived ? ' room-admin--archived' : '') }, [
          swatch,
          el('div', { className: 'room-admin__body' }, [
            el('strong', { text: r.name }),
            r.archived ? el('span', { className: 'badge badge--expired', text: 'Archived' })
              : r.active === false ? el('span', { className: 'badge badge--pending', text: 'Not bookable online' }) : null,
            el('span', { className: 'muted small', text: facts.join(' · ') }),
          ]),
          el('div', { className: 'button-row' }, [edit, archive]),
        ]));
      });
    }

    function toggleArchive(r, button) {
      message('rooms-error', '');
      // Archiving keeps the room (and its bookings' history) and can be undone.
      if (!r.archived && !window.confirm('Archive "' + r.name + '"? It can no longer be booked; ' +
          'its past bookings stay. You can restore it later.')) return;
      var req = api('PUT', '/api/rooms/' + encodeURIComponent(r.id), { archived: !r.archived });
      button.disabled = true;
      req.then(function (res) {
        if (!res.ok) message('rooms-error', errorMessage(res, 'That did not work.'));
        return refresh();
      }).catch(function () { message('rooms-error', NETWORK); button.disabled = false; });
    }

    function startEdit(r) {
      clearFieldErrors(form);
      message('room-form-error', '');
      $('room-id').value = r.id;
      $('room-name').value = r.name || '';
      $('room-rate').value = toMajor(r.hourly_rate || 0, r.currency);
      $('room-description').value = r.description || '';
      $('room-capacity').value = r.capacity || '';
      $('room-color').value = colorOf(r);
      $('room-equipment').value = Array.isArray(r.equipment) ? r.equipment.join(', ') : '';
      $('room-active').checked = r.active !== false;
      setText('room-form-title', 'Edit ' + r.name);
      setText('room-save', 'Save room');
      show($('room-cancel-edit'), true);
      form.scrollIntoView({ block: 'start' });
      $('room-form-title').focus({ preventScroll: true });
    }

    function resetForm() {
      form.reset();
      $('room-id').value = '';
      clearFieldErrors(form);
      message('room-form-error', '');
      setText('room-form-title', 'Add a room');
      setText('room-save', 'Add room');
      show($('room-cancel-edit'), false);
    }

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      clearFieldErrors(form);
      message('room-form-error', '');
      var name = $('room-name').value.trim();
      var rate = toMinor($('room-rate').value || '0', CURRENCY);
      var cap = $('room-capacity').value.trim();
      var bad = false;
      if (!name) { message('room-name-error', 'Give the room a name.'); $('room-name').setAttribute('aria-invalid', 'true'); bad = true; }
      if (isNaN(rate)) { message('room-hourly_rate-error', 'Enter an amount like ' + toMajor(2500) + '.'); $('room-rate').setAttribute('aria-invalid', 'true'); bad = true; }
      if (cap && !(parseInt(cap, 10) > 0)) { message('room-capacity-error', 'A whole number of people, or empty.'); bad = true; }
      if (bad) { form.querySelector('[aria-invalid="true"]') && form.querySelector('[aria-invalid="true"]').focus(); return; }
      var body = {
        name: name,
        description: $('room-description').value.trim(),
        capacity: cap ? parseInt(cap, 10) : null,
        hourly_rate: rate,
        equipment: $('room-equipment').value.split(',').map(function (s) { return s.trim(); }).filter(Boolean),
        color: $('room-color').value,
        active: $('room-active').checked,
      };
      var id = $('room-id').value;
      var save = $('room-save'), idle = save.textContent;
      save.disabled = true;
      save.textContent = 'Saving…';
      api(id ? 'PUT' : 'POST', id ? '/api/rooms/' + encodeURIComponent(id) : '/api/rooms', body).then(function (r) {
        save.disabled = false;
        save.textContent = idle;
        if (r.ok) {
          resetForm();
          setText('rooms-status', (id ? 'Saved ' : 'Added ') + name + '.');
          show($('rooms-status'), true);
          return refresh();
        }
        if (r.status === 422) showFieldErrors(r, 'room-', 'room-form-error', { hourly_rate: 'room-rate' });
        else message('room-form-error', errorMessage(r, 'The room could not be saved.'));
      }).catch(function () {
        save.disabled = false;
        save.textContent = idle;
        message('room-form-error', NETWORK);
      });
    });
    $('room-cancel-edit').addEventListener('click', function () { resetForm(); $('room-name').focus(); });
    $('show-archived').addEventListener('change', render);
    refresh();
  }

  function policySettings() {
    var NUMBERS = ['min_notice_minutes', 'min_duration_minutes', 'max_duration_minutes', 'max_days_ahead',
      'buffer_minutes', 'hold_minutes'];
    var loaded = {};
    var tiersTouched = false;
    var form = $('policy-form');

    // The deposit as {type, value}, whether the API nests it or not.
    function deposit(s) {
      if (s.deposit && typeof s.deposit === 'object') {
        return { type: s.deposit.type || 'none', value: Number(s.deposit.value) || 0 };
      }
      return { type: s.deposit_type || 'none', value: Number(s.deposit_value) || 0 };
    }

    function depositUnit() {
      var t = $('p-deposit_type').value;
      setText('deposit-unit', t === 'percent' ? '(% of the price)' : t === 'fixed' ? '(' + CURRENCY + ')' : 'value');
      $('p-deposit_value').disabled = t === 'none';
    }

    function tierRow(t) {
      var n = $('refund-tiers').children.length + 1;
      var hours = el('input', { type: 'number', min: '0', step: '1', id: 'tier-h-' + n, value: t ? String(t.hours_before) : '' });
      var pct = el('input', { type: 'number', min: '0', max: '100', step: '1', id: 'tier-p-' + n, value: t ? String(t.refund_percent) : '' });
      var remove = el('button', { type: 'button', className: 'button button--secondary', text: 'Remove',
        'aria-label': 'Remove refund step ' + n });
      var li = el('li', { className: 'tier' }, [
        el('div', { className: 'field' }, [el('label', { for: hours.id, text: 'Hours before' }), hours]),
        el('div', { className: 'field' }, [el('label', { for: pct.id, text: 'Refund %' }), pct]),
        remove,
      ]);
      remove.addEventListener('click', function () { tiersTouched = true; li.remove(); $('tier-add').focus(); });
      $('refund-tiers').appendChild(li);
      return hours;
    }

    function fill(s) {
      loaded = s || {};
      $('p-slot_step_minutes').value = String(loaded.slot_step_minutes || 30);
      NUMBERS.forEach(function (k) { $('p-' + k).value = loaded[k] !== undefined && loaded[k] !== null ? String(loaded[k]) : ''; });
      var dep = deposit(loaded);
      $('p-deposit_type').value = dep.type;
      $('p-deposit_value').value = dep.type === 'fixed' ? toMajor(dep.value) : String(dep.value);
      $('p-auto_confirm').checked = !!loaded.auto_confirm;
      depositUnit();
      $('refund-tiers').textContent = '';
      var rule = loaded.refund_rule || {};
      (Array.isArray(rule.tiers) ? rule.tiers : []).forEach(tierRow);
      tiersTouched = false;
      setText('refund-other', rule.type && rule.type !== 'tiers'
        ? 'This studio uses a "' + rule.type + '" refund rule, kept as it is unless you add steps here.' : '');
    }

    function collect() {
      var out = {}, errors = {};
      Object.keys(loaded).forEach(function (k) { if (k !== 'updated_at') out[k] = loaded[k]; });
      out.slot_step_minutes = Number($('p-slot_step_minutes').value);
      NUMBERS.forEach(function (k) {
        var v = $('p-' + k).value.trim();
        if (!/^\d+$/.test(v)) errors[k] = 'A whole number.';
        else out[k] = Number(v);
      });
      var dep = { type: $('p-deposit_type').value, value: 0 };
      var dv = $('p-deposit_value').value.trim() || '0';
      if (dep.type === 'fixed') {
        dep.value = toMinor(dv);
        if (isNaN(dep.value)) errors.deposit_value = 'An amount like ' + toMajor(2000) + '.';
      } else if (dep.type === 'percent') {
        dep.value = Number(dv);
        if (!/^\d+$/.test(dv) || dep.value > 100) errors.deposit_value = 'A whole percentage, 0 to 100.';
      }
      if ('deposit_type' in loaded && !('deposit' in loaded)) {
        out.deposit_type = dep.type;
        out.deposit_value = dep.value;
      } else {
        out.deposit = dep;
      }
      out.auto_confirm = $('p-auto_confirm').checked;
      var tiers = [];
      Array.prototype.forEach.call($('refund-tiers').children, function (li) {
        var inputs = li.querySelectorAll('input');
        var h = inputs[0].value.trim(), p = inputs[1].value.trim();
        if (!/^\d+$/.test(h) || !/^\d+$/.test(p) || Number(p) > 100) {
          errors.refund_rule = 'Each refund step needs whole hours and a percentage from 0 to 100.';
          inputs[0].setAttribute('aria-invalid', 'true');
          return;
        }
        tiers.push({ hours_before: Number(h), refund_percent: Number(p) });
      });
      tiers.sort(function (a, b) { return b.hours_before - a.hours_before; });
      var old = loaded.refund_rule || {};
      if (!old.type || old.type === 'tiers' || tiersTouched || tiers.length) {
        out.refund_rule = { type: 'tiers', tiers: tiers };
      }
      return { body: out, errors: errors };
    }

    $('p-deposit_type').addEventListener('change', depositUnit);
    $('tier-add').addEventListener('click', function () { tiersTouched = true; tierRow(null).focus(); });
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      clearFieldErrors(form);
      message('policy-error', '');
      setText('policy-saved', '');
      var c = collect();
      var keys = Object.keys(c.errors);
      if (keys.length) {
        keys.forEach(function (k) {
          message('p-' + k + '-error', c.errors[k]);
          if ($('p-' + k)) $('p-' + k).setAttribute('aria-invalid', 'true');
        });
        message('policy-error', 'Check the highlighted fields.');
        var first = form.querySelector('[aria-invalid="true"]');
        if (first) first.focus();
        return;
      }
      var button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      api('PUT', '/api/settings/booking', c.body).then(function (r) {
        button.disabled = false;
        if (r.ok) {
          fill(objectOf(r.data, 'settings') || c.body);
          setText('policy-saved', 'Booking rules saved.');
        } else if (r.status === 422) {
          showFieldErrors(r, 'p-', 'policy-error');
        } else {
          message('policy-error', errorMessage(r, 'The booking rules could not be saved.'));
        }
      }).catch(function () { button.disabled = false; message('policy-error', NETWORK); });
    });

    api('GET', '/api/settings/booking').then(function (r) {
      if (!r.ok) { setText('policy-status', errorMessage(r, 'The booking rules could not be loaded.')); return; }
      fill(objectOf(r.data, 'settings'));
      show($('policy-status'), false);
      show(form, true);
    }).catch(function () { setText('policy-status', NETWORK); });
  }

  function hoursSettings() {
    var form = $('hours-form');
    var counter = 0;

    function rangeRow(list, r) {
      var n = ++counter;
      var opens = el('input', { type: 'text', id: 'h-open-' + n, inputmode: 'numeric', placeholder: '09:00',
        pattern: '([01]?[0-9]|2[0-4]):[0-5][0-9]', maxlength: '5', value: r ? String(r.opens).slice(0, 5) : '09:00',
        autocomplete: 'off' });
      var closes = el('input', { type: 'text', id: 'h-close-' + n, inputmode: 'numeric', placeholder: '23:00',
        pattern: '([01]?[0-9]|2[0-4]):[0-5][0-9]', maxlength: '5', value: r ? String(r.closes).slice(0, 5) : '23:00',
        autocomplete: 'off' });
      var day = list.getAttribute('data-day-name');
      var remove = el('button', { type: 'button', className: 'button button--secondary', text: 'Remove',
        'aria-label': 'Remove these ' + day + ' hours' });
      var li = el('li', { className: 'hours-range' }, [
        el('div', { className: 'field' }, [el('label', { for: opens.id, text: 'Opens' }), opens]),
        el('div', { className: 'field' }, [el('label', { for: closes.id, text: 'Closes' }), closes]),
        remove,
      ]);
      remove.addEventListener('click', function () {
        var add = list.parentNode.querySelector('.hours-add');
        li.remove();
        syncClosed(list);
        add.focus();
      });
      list.appendChild(li);
      syncClosed(list);
      return opens;
    }

    function syncClosed(list) {
      show(list.parentNode.querySelector('.hours-closed'), list.children.length === 0);
    }

    function render(weekly) {
      var box = $('hours-days');
      box.textContent = '';
      var byDay = {};
      weekly.forEach(function (d) { byDay[d.weekday] = d.ranges || []; });
      WEEKDAYS.forEach(function (name, i) {
        var list = el('ul', { className: 'hours-list', 'data-weekday': String(i + 1), 'data-day-name': name });
        var add = el('button', { type: 'button', className: 'button button--secondary hours-add', text: 'Add hours',
          'aria-label': 'Add hours on ' + name });
        add.addEventListener('click', function () { rangeRow(list, null).focus(); });
        var fs = el('fieldset', { className: 'hours-day' }, [
          el('legend', { text: name }),
          el('p', { className: 'hours-closed muted', text: 'Closed' }),
          list,
          add,
        ]);
        box.appendChild(fs);
        (byDay[i + 1] || []).forEach(function (r) { rangeRow(list, r); });
        syncClosed(list);
      });
    }

    function collect() {
      var weekly = [], bad = null;
      Array.prototype.forEach.call(document.querySelectorAll('#hours-days .hours-list'), function (list) {
        var ranges = [];
        Array.prototype.forEach.call(list.children, function (li) {
          var inputs = li.querySelectorAll('input');
          var o = parseHHMM(inputs[0].value), c = parseHHMM(inputs[1].value);
          if (isNaN(o) || isNaN(c) || c <= o || o >= 1440) {
            inputs[0].setAttribute('aria-invalid', 'true');
            inputs[1].setAttribute('aria-invalid', 'true');
            bad = bad || { input: inputs[0], day: list.getAttribute('data-day-name') };
            return;
          }
          ranges.push({ opens: hhmm(o), closes: hhmm(c) });
        });
        ranges.sort(function (a, b) { return a.opens < b.opens ? -1 : 1; });
        for (var i = 1; i < ranges.length; i++) {
          if (ranges[i].opens < ranges[i - 1].closes) bad = bad || { input: list.querySelector('input'),
            day: list.getAttribute('data-day-name'), overlap: true };
        }
        weekly.push({ weekday: Number(list.getAttribute('data-weekday')), ranges: ranges });
      });
      return { weekly: weekly, bad: bad };
    }

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      clearFieldErrors(form);
      message('hours-error', '');
      setText('hours-saved', '');
      var c = collect();
      if (c.bad) {
        message('hours-error', c.bad.overlap ? c.bad.day + ': the opening hours overlap.'
          : c.bad.day + ': write times as HH:MM (24:00 for midnight), closing after opening.');
        c.bad.input.focus();
        return;
      }
      var button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      api('PUT', '/api/opening-hours', { weekly: c.weekly }).then(function (r) {
        button.disabled = false;
        if (r.ok) {
          if (r.data && Array.isArray(r.data.weekly)) render(r.data.weekly);
          setText('hours-saved', 'Opening hours saved.');
        } else {
          message('hours-error', errorMessage(r, 'The opening hours could not be saved.'));
        }
      }).catch(function () { button.disabled = false; message('hours-error', NETWORK); });
    });

    api('GET', '/api/opening-hours').then(function (r) {
      if (!r.ok) { setText('hours-status', errorMessage(r, 'Opening hours could not be loaded.')); return; }
      render(listOf(r.data, 'weekly'));
      show($('hours-status'), false);
      show(form, true);
    }).catch(function () { setText('hours-status', NETWORK); });
  }

  var pages = { calendar: calendarPage, bookings: bookingsPage, booking: bookingPage, settings: settingsPage };
  pages[root.getAttribute('data-page')]();
})();
