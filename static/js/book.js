/*
 * book.js — the customer's pages of a studio, no framework:
 *   data-page="book"    GET /: choose a room, a start in a week of free slots
 *                       and a duration, give a name and e-mail, book, see the
 *                       confirmation with the link to manage the booking;
 *   data-page="manage"  GET /book/<ref>?token=…: the booking, its deposit due /
 *                       paid / refunded with a Pay button (Stripe Checkout),
 *                       and cancelling it after a confirmation step, with the
 *                       refund.
 * Times are shown in the studio's time zone (from /api/public/studio), never
 * the browser's: a customer abroad books the studio's 18:00. Money comes as
 * integer minor units and is shown with the currency's own decimals.
 */
(function () {
  'use strict';

  var root = document.querySelector('[data-page="book"], [data-page="manage"]');
  if (!root) return;

  /* ---- small helpers ------------------------------------------------------ */

  var ui = window.studiod;
  var $ = ui.$, el = ui.el, show = ui.show, setText = ui.setText, api = ui.api, listOf = ui.listOf,
    addDays = ui.addDays, statusLabel = ui.statusLabel;

  // The message of an error reply (the one error shape), or a fallback.
  function errorMessage(r, fallback) {
    var e = r && r.data && r.data.error;
    if (e && e.message) return e.message;
    if (r && r.status >= 500) return 'Something went wrong on our side. Please try again in a moment.';
    if (r && r.status === 429) return 'Too many attempts. Please wait a moment and try again.';
    return fallback;
  }

  function humanize(v) { return ui.humanize(v, 'Please check this.'); }

  /* ---- money and time ---------------------------------------------------- */

  function money(amount, currency) { return currency ? ui.money(amount, currency) : ''; }

  var studioTz = null; // IANA name from /api/public/studio; null until known (or invalid)

  function setTimezone(tz) { studioTz = ui.validZone(tz) ? tz : null; }

  // The studio's local date (YYYY-MM-DD) of an instant (a Date or an RFC 3339 string).
  function localDate(when) {
    if (typeof when === 'string' && !studioTz) return when.slice(0, 10);
    return ui.localParts(when, studioTz || 'UTC').date;
  }

  function timeLabel(iso) {
    if (!studioTz) return String(iso).slice(11, 16);
    return ui.timeLabel(iso, studioTz);
  }

  // A calendar date (YYYY-MM-DD) as words, long or short.
  function dateLabel(ymd, long) { return ui.dateLabel(ymd, long ? 'long' : 'day'); }

  function whenLabel(startIso, endIso) {
    var day = localDate(startIso);
    var s = dateLabel(day, true) + ', ' + timeLabel(startIso) + '–' + timeLabel(endIso);
    var endDay = localDate(endIso);
    if (endDay !== day && timeLabel(endIso) !== '00:00') s += ' (' + dateLabel(endDay) + ')';
    return s;
  }

  function durationLabel(minutes) {
    var h = Math.floor(minutes / 60), m = minutes % 60;
    if (!h) return m + ' min';
    return h + ' h' + (m ? ' ' + m + ' min' : '');
  }

  function setStatusBadge(id, status) {
    var b = $(id);
    if (!b) return;
    b.textContent = statusLabel(status);
    b.className = 'badge badge--' + String(status || 'unknown').replace(/[^a-z_]/g, '');
  }

  function depositText(dep, currency) {
    if (!dep || typeof dep !== 'object') return '';
    var amount = dep.amount !== undefined ? dep.amount : dep.deposit_amount;
    if (!amount) return '';
    var s = money(amount, dep.currency || currency);
    if (dep.due_at) s += ', due by ' + dateLabel(localDate(dep.due_at)) + ' ' + timeLabel(dep.due_at);
    else if (dep.status) s += ' (' + statusLabel(dep.status).toLowerCase() + ')';
    return s;
  }

  // "Full refund up to 48 h before the start, 50% up to 24 h before, none after."
  function refundRuleText(rule) {
    if (!rule || typeof rule !== 'object') return '';
    if (rule.description) return rule.description;
    var tiers = Array.isArray(rule.tiers) ? rule.tiers.slice() : [];
    if (!tiers.length) return rule.type === 'none' ? 'Cancellations are not refunded.' : '';
    tiers.sort(function (a, b) { return b.hours_before - a.hours_before; });
    var parts = tiers.map(function (t) {
      var what = t.refund_percent >= 100 ? 'a full refund' : t.refund_percent + '% back';
      return what + ' if you cancel at least ' + t.hours_before + ' h before the start';
    });
    return 'Refunds: ' + parts.join('; ') + '; later, no refund.';
  }

  // The booking's facts into the shared ids of the confirmation and manage views.
  function fillBooking(b, currency) {
    setText('booking-ref', b.ref);
    setStatusBadge('booking-status', b.status);
    setText('booking-room', b.room && b.room.name ? b.room.name : '');
    setText('booking-when', b.starts_at && b.ends_at ? whenLabel(b.starts_at, b.ends_at) : '');
    var price = b.price || {};
    setText('booking-price', money(price.amount, price.currency || currency));
    var dep = depositText(b.deposit, price.currency || currency);
    setText('booking-deposit', dep);
    show($('booking-deposit'), !!dep);
    show($('booking-deposit-label'), !!dep);
    var hold = $('booking-hold');
    if (hold) {
      if (b.status === 'pending' && b.hold_expires_at) {
        hold.textContent = 'We hold this time for you until ' + timeLabel(b.hold_expires_at) + ' on ' +
          dateLabel(localDate(b.hold_expires_at)) + '. The studio will confirm your booking' +
          (dep ? ' once the deposit is paid.' : '.');
        show(hold, true);
      } else {
        show(hold, false);
      }
    }
  }

  /* ---- the booking page -------------------------------------------------- */

  function bookPage() {
    var state = {
      studio: null,
      policy: {},
      rooms: [],
      room: null,
      today: null,
      weekStart: null,
      free: {},       // slot start (ms) → slot, for the loaded week
      stepMs: 0,
      selected: null, // the chosen start slot
      day: null,      // the day phones show
      seq: 0,         // ignores availability answers that arrive late
      busy: false,
    };
    var FIELD_IDS = { name: 'customer-name', email: 'customer-email', phone: 'customer-phone',
      notes: 'booking-notes' };

    function policyValue(key, fallback) {
      var r = state.room || {};
      if (r[key] > 0) return r[key];
      return state.policy[key] > 0 ? state.policy[key] : fallback;
    }

    function load() {
      Promise.all([api('GET', '/api/public/studio'), api('GET', '/api/public/rooms')])
        .then(function (rs) {
          var s = rs[0], r = rs[1];
          if (!s.ok || !r.ok) {
            loadFailed(errorMessage(s.ok ? r : s, 'Online booking is not available right now.'));
            return;
          }
          state.studio = s.data || {};
          state.policy = state.studio.policy || {};
          setTimezone(state.studio.timezone);
          state.rooms = listOf(r.data, 'rooms');
          state.today = localDate(new Date());
          state.weekStart = state.today;
          setText('studio-tz', state.studio.timezone || 'local time');
          renderPolicy();
          renderRooms();
          show($('book-status'), false);
          show($('book-flow'), true);
          if (state.rooms.length === 1) chooseRoom(state.rooms[0].id);
        })
        .catch(function () { loadFailed('Could not reach the studio. Check your connection and reload the page.'); });
    }

    function loadFailed(msg) {
      show($('book-status'), false);
      var e = $('book-load-error');
      e.textContent = msg;
      show(e, true);
    }

    function renderPolicy() {
      var p = state.policy, bits = [];
      if (p.min_duration_minutes && p.max_duration_minutes) {
        bits.push('Bookings from ' + durationLabel(p.min_duration_minutes) + ' to ' +
          durationLabel(p.max_duration_minutes) + '.');
      }
      if (p.min_notice_minutes) bits.push('Book at least ' + durationLabel(p.min_notice_minutes) + ' ahead.');
      var dep = p.deposit && typeof p.deposit === 'object' ? p.deposit : null;
      if (dep && dep.type === 'percent' && dep.value > 0) bits.push('A deposit of ' + dep.value + '% is due when you book.');
      if (dep && dep.type === 'fixed' && dep.value > 0) {
        bits.push('A deposit of ' + money(dep.value, state.studio.currency) + ' is due when you book.');
      }
      var rule = refundRuleText(p.refund_rule);
      if (rule) bits.push(rule);
      setText('policy-summary', bits.join(' '));
    }

    function renderRooms() {
      var list = $('room-list');
      list.textContent = '';
      if (!state.rooms.length) {
        list.appendChild(el('p', { className: 'muted', text: 'No rooms can be booked online yet.' }));
        return;
      }
      state.rooms.forEach(function (room) {
        var id = 'room-' + room.id;
        // Named by the room's name and rate; the rest of the card describes it.
        var input = el('input', { type: 'radio', name: 'room', id: id, value: room.id,
          'aria-labelledby': id + '-name ' + id + '-rate', 'aria-describedby': id + '-more' });
        input.addEventListener('change', function () { if (input.checked) chooseRoom(room.id); });
        var facts = [];
        if (room.capacity) facts.push('up to ' + room.capacity + (room.capacity === 1 ? ' person' : ' people'));
        var photo = null;
        if (typeof room.photo_url === 'string' && /^\/[^/\\]/.test(room.photo_url)) {
          photo = el('img', { src: room.photo_url, alt: '', className: 'room-card__photo', loading: 'lazy' });
        }
        var equipment = Array.isArray(room.equipment) && room.equipment.length
          ? el('ul', { className: 'room-card__equipment', 'aria-label': 'Equipment' },
            room.equipment.map(function (x) { return el('li', { text: String(x) }); }))
          : null;
        var label = el('label', { for: id, className: 'room-card' }, [
          input,
          photo,
          el('span', { className: 'room-card__body' }, [
            el('span', { className: 'room-card__name', id: id + '-name', text: room.name }),
            el('span', { className: 'room-card__rate', id: id + '-rate', text: money(room.hourly_rate, room.currency ||
              state.studio.currency) + ' per hour' }),
            el('span', { className: 'room-card__more', id: id + '-more' }, [
              room.description ? el('span', { className: 'room-card__desc', text: room.description }) : null,
              facts.length ? el('span', { className: 'room-card__facts', text: facts.join(' · ') }) : null,
              equipment,
            ]),
          ]),
        ]);
        if (/^#[0-9a-fA-F]{6}$/.test(room.color || '')) label.style.setProperty('--room-color', room.color);
        list.appendChild(label);
      });
    }

    function chooseRoom(id) {
      state.room = state.rooms.filter(function (r) { return r.id === id; })[0] || null;
      var input = $('room-' + id);
      if (input && !input.checked) input.checked = true;
      state.selected = null;
      state.weekStart = state.today;
      show($('slots-section'), true);
      show($('details-section'), false);
      loadWeek();
    }

    function lastBookableDay() {
      var days = state.policy.max_days_ahead;
      return days > 0 ? addDays(state.today, days) : null;
    }

    function loadWeek() {
      var seq = ++state.seq;
      var from = state.weekStart, to = addDays(from, 7);
      var last = lastBookableDay();
      setText('week-label', dateLabel(from) + ' – ' + dateLabel(addDays(from, 6)));
      $('week-prev').disabled = from <= state.today;
      $('week-next').disabled = !!last && to > last;
      setText('slots-status', 'Loading free times…');
      $('slot-grid').setAttribute('aria-busy', 'true');
      var url = '/api/public/availability?room_id=' + encodeURIComponent(state.room.id) +
        '&from=' + from + '&to=' + to;
      api('GET', url).then(function (r) {
        if (seq !== state.seq) return;
        $('slot-grid').removeAttribute('aria-busy');
        if (!r.ok) {
          state.free = {};
          renderGrid([]);
          setText('slots-status', errorMessage(r, 'Free times could not be loaded.'));
          return;
        }
        var slots = listOf(r.data, 'slots');
        state.free = {};
        state.stepMs = 0;
        slots.forEach(function (s) {
          var t = Date.parse(s.starts_at);
          if (!isNaN(t)) state.free[t] = s;
          if (!state.stepMs) state.stepMs = Date.parse(s.ends_at) - t;
        });
        if (!(state.stepMs > 0)) state.stepMs = policyValue('slot_step_minutes', 30) * 60000;
        renderGrid(slots);
      }).catch(function () {
        if (seq !== state.seq) return;
        $('slot-grid').removeAttribute('aria-busy');
        setText('slots-status', 'Could not reach the studio. Check your connection and try again.');
      });
    }

    // The durations (minutes) that can start at slot: min..max in slot steps,
    // each with every slot it covers free.
    function durationsFor(slot) {
      var stepMin = Math.round(state.stepMs / 60000);
      var min = policyValue('min_duration_minutes', stepMin);
      var max = policyValue('max_duration_minutes', Math.max(min, 24 * 60));
      var start = Date.parse(slot.starts_at);
      var out = [];
      var covered = 0; // minutes of consecutive free slots from start
      for (var d = Math.ceil(min / stepMin) * stepMin; d <= max; d += stepMin) {
        while (covered < d) {
          if (!state.free[start + covered * 60000]) return out;
          covered += stepMin;
        }
        out.push(d);
      }
      return out;
    }

    function renderGrid(slots) {
      var grid = $('slot-grid');
      grid.textContent = '';
      var byDay = {};
      slots.forEach(function (s) {
        var day = localDate(s.starts_at);
        (byDay[day] = byDay[day] || []).push(s);
      });
      var total = 0;
      var days = [];
      for (var i = 0; i < 7; i++) {
        var d = addDays(state.weekStart, i);
        days.push({ day: d, starts: (byDay[d] || []).filter(function (s) { return durationsFor(s).length > 0; }) });
      }
      // Phones show one day at a time (the tabs); wider screens the whole week.
      if (!days.some(function (x) { return x.day === state.day; })) {
        var firstFree = days.filter(function (x) { return x.starts.length; })[0];
        state.day = (firstFree || days[0]).day;
      }
      renderDayTabs(days);
      for (i = 0; i < 7; i++) {
        var day = days[i].day;
        var starts = days[i].starts;
        total += starts.length;
        var headingId = 'day-' + day;
        var list = el('ul', { className: 'slot-day__list', 'aria-labelledby': headingId });
        starts.forEach(function (s) {
          var t = timeLabel(s.starts_at);
          var chosen = state.selected && state.selected.starts_at === s.starts_at;
          var b = el('button', { type: 'button', className: 'slot', 'aria-pressed': chosen ? 'true' : 'false',
            'aria-label': dateLabel(day, true) + ', ' + t, 'data-start': s.starts_at, text: t });
          b.addEventListener('click', function () { chooseSlot(s); });
          list.appendChild(el('li', null, [b]));
        });
        var section = el('section', { className: 'slot-day' + (starts.length ? '' : ' slot-day--empty') +
          (day === state.day ? ' slot-day--current' : ''), 'data-day': day }, [
          el('h4', { id: headingId, className: 'slot-day__name', text: dateLabel(day) }),
          starts.length ? list : el('p', { className: 'slot-day__none', text: 'No free times' }),
        ]);
        grid.appendChild(section);
      }
      setText('slots-status', total ? total + ' start times free this week.'
        : 'No free times this week. Try the next week.');
    }

    function renderDayTabs(days) {
      var tabs = $('day-tabs');
      tabs.textContent = '';
      days.forEach(function (x) {
        var noon = new Date(x.day + 'T12:00:00Z');
        var b = el('button', { type: 'button', className: 'day-tab' + (x.starts.length ? '' : ' day-tab--full'),
          'aria-pressed': x.day === state.day ? 'true' : 'false', 'data-day': x.day,
          'aria-label': dateLabel(x.day, true) + ', ' + (x.starts.length || 'no') + ' free start times' }, [
          el('span', { className: 'day-tab__wd', text: ui.dateFormat({ timeZone: 'UTC', weekday: 'short' }).format(noon) }),
          el('span', { className: 'day-tab__num', text: String(Number(x.day.slice(8, 10))) }),
        ]);
        b.addEventListener('click', function () { showDay(x.day); });
        tabs.appendChild(b);
      });
    }

    function showDay(day) {
      state.day = day;
      Array.prototype.forEach.call(document.querySelectorAll('#day-tabs .day-tab'), function (b) {
        b.setAttribute('aria-pressed', b.getAttribute('data-day') === day ? 'true' : 'false');
      });
      Array.prototype.forEach.call(document.querySelectorAll('#slot-grid .slot-day'), function (sec) {
        sec.classList.toggle('slot-day--current', sec.getAttribute('data-day') === day);
      });
    }

    function chooseSlot(slot) {
      state.selected = slot;
      Array.prototype.forEach.call(document.querySelectorAll('#slot-grid .slot'), function (b) {
        b.setAttribute('aria-pressed', b.getAttribute('data-start') === slot.starts_at ? 'true' : 'false');
      });
      var select = $('duration');
      var previous = Number(select.value) || 0;
      select.textContent = '';
      var start = Date.parse(slot.starts_at);
      durationsFor(slot).forEach(function (d) {
        var end = new Date(start + d * 60000).toISOString();
        select.appendChild(el('option', { value: String(d),
          text: durationLabel(d) + ' (until ' + timeLabel(end) + ')' }));
      });
      if (previous && select.querySelector('option[value="' + previous + '"]')) select.value = String(previous);
      select.disabled = false;
      $('book-submit').disabled = false;
      setText('chosen-summary', state.room.name + ' · ' + dateLabel(localDate(slot.starts_at), true) + ' at ' +
        timeLabel(slot.starts_at));
      clearErrors();
      updateEstimate();
      var section = $('details-section');
      show(section, true);
      section.scrollIntoView({ block: 'start', behavior: 'smooth' });
      $('details-heading').focus({ preventScroll: true });
    }

    function updateEstimate() {
      var minutes = Number($('duration').value) || 0;
      var room = state.room;
      if (!room || !minutes || !(room.hourly_rate >= 0)) { setText('price-estimate', ''); return; }
      var amount = Math.round(room.hourly_rate * minutes / 60);
      setText('price-estimate', 'About ' + money(amount, room.currency || state.studio.currency) +
        ' at the room\'s hourly rate; the exact price is shown when you book.');
    }

    function clearErrors() {
      show($('form-error'), false);
      Object.keys(FIELD_IDS).forEach(function (k) { fieldError(FIELD_IDS[k], null); });
    }

    function fieldError(inputId, msg) {
      var input = $(inputId), out = $(inputId + '-error');
      if (!input || !out) return false;
      if (msg) {
        input.setAttribute('aria-invalid', 'true');
        out.textContent = msg;
        show(out, true);
      } else {
        input.removeAttribute('aria-invalid');
        out.textContent = '';
        show(out, false);
      }
      return true;
    }

    function formError(msg) {
      var e = $('form-error');
      e.textContent = msg;
      show(e, true);
    }

    function validate() {
      var bad = null;
      var name = $('customer-name').value.trim(), email = $('customer-email').value.trim();
      if (!name) { fieldError('customer-name', 'Please enter your name.'); bad = bad || 'customer-name'; }
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
        fieldError('customer-email', 'Please enter an e-mail address like name@example.com.');
        bad = bad || 'customer-email';
      }
      if (bad) $(bad).focus();
      return !bad;
    }

    function submit(ev) {
      ev.preventDefault();
      if (state.busy) return;
      clearErrors();
      if (!state.selected) { formError('Please choose a start time above.'); return; }
      if (!validate()) return;
      var minutes = Number($('duration').value);
      var start = Date.parse(state.selected.starts_at);
      var endSlot = state.free[start + minutes * 60000 - state.stepMs];
      var body = {
        room_id: state.room.id,
        starts_at: state.selected.starts_at,
        // The end as the API wrote it (with the studio's offset), when we have it.
        ends_at: endSlot ? endSlot.ends_at : new Date(start + minutes * 60000).toISOString(),
        customer: {
          name: $('customer-name').value.trim(),
          email: $('customer-email').value.trim(),
          phone: $('customer-phone').value.trim(),
        },
        notes: $('booking-notes').value.trim(),
      };
      var button = $('book-submit');
      state.busy = true;
      button.disabled = true;
      button.textContent = 'Booking…';
      api('POST', '/api/public/booking', body).then(function (r) {
        if (r.status === 201 || (r.ok && r.data && r.data.ref)) {
          confirmed(r.data);
        } else if (r.status === 409) {
          formError(errorMessage(r, 'That time has just been taken.').replace(/([^.!?])$/, '$1.') +
            ' Please choose another start time above; the free times have been refreshed.');
          state.selected = null;
          $('duration').textContent = '';
          $('duration').disabled = true;
          setText('price-estimate', '');
          setText('chosen-summary', 'Choose another start time above.');
          loadWeek();
        } else if (r.status === 422) {
          showFieldErrors(r);
        } else {
          formError(errorMessage(r, 'The booking could not be made. Please try again.'));
        }
      }).catch(function () {
        formError('Could not reach the studio. Check your connection and try again.');
      }).then(function () {
        state.busy = false;
        button.disabled = !state.selected;
        button.textContent = 'Book';
      });
    }

    function showFieldErrors(r) {
      var fields = (r.data && r.data.error && r.data.error.fields) || {};
      var other = [], first = null;
      Object.keys(fields).forEach(function (k) {
        var key = k.replace(/^customer[._]/, '');
        var id = FIELD_IDS[key];
        if (id && fieldError(id, humanize(fields[k]))) first = first || id;
        else other.push(humanize(k.replace(/_at$/, '').replace(/_id$/, '')).replace(/\.$/, '') + ': ' +
          humanize(fields[k]));
      });
      var msg = errorMessage(r, 'Please check the form.');
      formError(other.length ? msg + ' ' + other.join(' ') : msg);
      if (first) $(first).focus();
    }

    function confirmed(b) {
      fillBooking(b, state.studio.currency);
      var link = $('manage-link');
      link.href = '/book/' + encodeURIComponent(b.ref) + '?token=' + encodeURIComponent(b.manage_token || '');
      show($('book-flow'), false);
      show($('confirmation'), true);
      $('confirmation').scrollIntoView({ block: 'start' });
      $('confirmation-heading').focus({ preventScroll: true });
    }

    function bookAnother() {
      show($('confirmation'), false);
      show($('book-flow'), true);
      show($('details-section'), false);
      $('booking-notes').value = '';
      state.selected = null;
      loadWeek();
      $('rooms-heading').scrollIntoView({ block: 'start' });
    }

    $('week-prev').addEventListener('click', function () {
      var prev = addDays(state.weekStart, -7);
      state.weekStart = prev < state.today ? state.today : prev;
      loadWeek();
    });
    $('week-next').addEventListener('click', function () {
      state.weekStart = addDays(state.weekStart, 7);
      loadWeek();
    });
    $('duration').addEventListener('change', updateEstimate);
    $('booking-form').addEventListener('submit', submit);
    $('book-another').addEventListener('click', bookAnother);
    ['customer-name', 'customer-email', 'customer-phone', 'booking-notes'].forEach(function (id) {
      $(id).addEventListener('input', function () {
        if ($(id).getAttribute('aria-invalid')) fieldError(id, null);
      });
    });
    load();
  }

  /* ---- the manage page --------------------------------------------------- */

  function managePage() {
    var ref = root.getAttribute('data-ref');
    var token = new URLSearchParams(window.location.search).get('token') || '';
    var currency = null, booking = null, policy = {};
    var headers = { 'X-Manage-Token': token };
    var bookingUrl = '/api/public/booking/' + encodeURIComponent(ref);

    function fail(msg) {
      show($('manage-status'), false);
      var e = $('manage-error');
      e.textContent = msg;
      show(e, true);
    }

    function render() {
      fillBooking(booking, currency);
      var c = booking.customer || {};
      setText('booking-name', c.name || '');
      show($('booking-name'), !!c.name);
      show($('booking-name-label'), !!c.name);
      var active = booking.status === 'pending' || booking.status === 'confirmed';
      var future = !booking.starts_at || Date.parse(booking.starts_at) > Date.now();
      show($('cancel-area'), active && future);
      show($('manage-status'), false);
      show($('manage-details'), true);
      renderPayment();
    }

    // Deposit due / paid / refunded (booking.payment, from the payments module) and Pay.
    function renderPayment() {
      var p = booking.payment;
      show($('payment-area'), !!p && (p.deposit > 0 || p.paid > 0));
      if (!p) return;
      setText('pay-due', money(p.due, p.currency));
      setText('pay-paid', money(p.paid, p.currency));
      var refunded = (p.refunded || 0) + (p.refund_pending || 0);
      setText('pay-refunded', money(p.refunded, p.currency) + (p.refund_pending > 0
        ? ' (' + money(p.refund_pending, p.currency) + ' on its way)' : ''));
      show($('pay-refunded'), refunded > 0);
      show($('pay-refunded-label'), refunded > 0);
      show($('pay-start'), p.due > 0 && p.online);
      setText('pay-unavailable', p.online_message || '');
      show($('pay-unavailable'), p.due > 0 && !p.online);
      var back = new URLSearchParams(window.location.search);
      if (back.get('paid') === '1') {
        setText('pay-result', p.due > 0 ? 'Thank you! Your payment is being confirmed…'
          : 'Thank you! Your payment was received.');
        show($('pay-result'), true);
        if (p.due > 0 && paidPolls++ < 10) window.setTimeout(load, 1500);
      }
    }
    var paidPolls = 0;

    function pay() {
      var b = $('pay-start');
      b.disabled = true;
      b.textContent = 'Opening the payment page…';
      show($('manage-error'), false);
      api('POST', bookingUrl + '/create-payment', undefined, headers).then(function (r) {
        if (!r.ok || !r.data || !r.data.checkout_url) {
          b.disabled = false;
          b.textContent = 'Pay the deposit';
          var e = $('manage-error');
          e.textContent = errorMessage(r, 'The payment could not be started. Please try again.');
          show(e, true);
          return;
        }
        window.location.assign(r.data.checkout_url);
      }).catch(function () {
        b.disabled = false;
        b.textContent = 'Pay the deposit';
        var e = $('manage-error');
        e.textContent = 'Could not reach the studio. Check your connection and try again.';
        show(e, true);
      });
    }

    // What cancelling now would bring back under the studio's rule, in words.
    function refundPreview() {
      var rule = policy.refund_rule, text = refundRuleText(rule);
      var tiers = rule && Array.isArray(rule.tiers) ? rule.tiers.slice() : null;
      if (tiers && booking.starts_at) {
        var hours = (Date.parse(booking.starts_at) - Date.now()) / 3600000;
        tiers.sort(function (a, b) { return b.hours_before - a.hours_before; });
        var tier = tiers.filter(function (t) { return hours >= t.hours_before; })[0];
        text = (tier ? 'Cancelling now, ' + (tier.refund_percent >= 100 ? 'you get back all you have paid.'
          : 'you get back ' + tier.refund_percent + '% of what you have paid.')
          : 'Cancelling now, nothing you have paid is refunded.') + ' ' + text;
      }
      return text;
    }

    function load() {
      if (!token) {
        fail('This link is missing its access code. Please open the link from your booking e-mail.');
        return;
      }
      Promise.all([api('GET', '/api/public/studio').catch(function () { return { ok: false }; }),
        api('GET', bookingUrl, undefined, headers)])
        .then(function (rs) {
          if (rs[0].ok && rs[0].data) {
            setTimezone(rs[0].data.timezone);
            currency = rs[0].data.currency || null;
            policy = rs[0].data.policy || {};
          }
          var r = rs[1];
          if (!r.ok) {
            fail(r.status === 404 || r.status === 403 || r.status === 401
              ? 'We could not find this booking, or the link is no longer valid. Please use the link from your most recent booking e-mail.'
              : errorMessage(r, 'Your booking could not be loaded. Please try again.'));
            return;
          }
          booking = r.data && r.data.booking ? r.data.booking : r.data;
          render();
        })
        .catch(function () { fail('Could not reach the studio. Check your connection and reload the page.'); });
    }

    function askCancel() {
      setText('refund-policy', refundPreview());
      show($('cancel-start'), false);
      show($('cancel-confirm'), true);
      $('cancel-heading').focus();
    }

    function keep() {
      show($('cancel-confirm'), false);
      show($('cancel-start'), true);
      $('cancel-start').focus();
    }

    function doCancel() {
      var yes = $('cancel-yes');
      yes.disabled = true;
      yes.textContent = 'Cancelling…';
      show($('manage-error'), false);
      api('POST', bookingUrl + '/cancel', {}, headers).then(function (r) {
        if (!r.ok) {
          var e = $('manage-error');
          e.textContent = errorMessage(r, 'The booking could not be cancelled.');
          show(e, true);
          return;
        }
        var res = r.data || {};
        booking.status = res.status || 'cancelled';
        setStatusBadge('booking-status', booking.status);
        show($('booking-hold'), false);
        show($('cancel-area'), false);
        var refund = res.refund || {};
        var out = $('cancel-result');
        var amount = Number(refund.amount) || 0;
        var cur = refund.currency || (booking.price && booking.price.currency) || currency;
        out.textContent = 'Your booking is cancelled. ' + (amount > 0
          ? 'Refund: ' + money(amount, cur) + (refund.rule ? ' (' + refund.rule + ')' : '') +
            '. It goes back the way you paid.' + (refund.message ? ' ' + refund.message : '')
          : 'No refund is due.');
        show($('pay-start'), false);
        show(out, true);
        out.focus();
      }).catch(function () {
        var e = $('manage-error');
        e.textContent = 'Could not reach the studio. Check your connection and try again.';
        show(e, true);
      }).then(function () {
        yes.disabled = false;
        yes.textContent = 'Yes, cancel it';
      });
    }

    $('pay-start').addEventListener('click', pay);
    $('cancel-start').addEventListener('click', askCancel);
    $('cancel-no').addEventListener('click', keep);
    $('cancel-yes').addEventListener('click', doCancel);
    load();
  }

  if (root.getAttribute('data-page') === 'book') bookPage();
  else managePage();
})();
