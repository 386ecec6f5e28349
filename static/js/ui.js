/*
 * ui.js — the helpers the page scripts share, no framework, on one global:
 * window.studiod. Loaded (defer) before every page script, which read it
 * when they run. It draws nothing itself.
 *
 *   meta, $, el, show, setText, message         the DOM
 *   api, errorMessage, NETWORK, listOf, objectOf the JSON APIs
 *   humanize, showFieldErrors, clearFieldErrors  a form's errors
 *   button, STATUS_LABELS, statusLabel           small pieces of the pages
 *   moneyFormat, digits, money, toMajor, toMinor money (integer minor units)
 *   validZone, pageZone, dateFormat, localParts,
 *   timeLabel, dateLabel, addDays, instantLabel  dates and times in a zone
 *
 * Unsafe requests carry X-CSRF-Token from <meta name="csrf-token"> when the
 * page has one (the staff and admin pages; the customer's pages do not).
 */
(function () {
  'use strict';

  /* ---- the DOM ----------------------------------------------------------- */

  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute('content') : '';
  }

  function $(id) { return document.getElementById(id); }

  // el('a', {href: '/', text: 'Home', className: 'x'}, [child, 'text']); null, undefined
  // and false are left out, both as attributes and as children; true is an empty attribute.
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'text') e.textContent = v;
        else if (k === 'className') e.className = v;
        else e.setAttribute(k, v === true ? '' : v);
      });
    }
    (children || []).forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  }

  function show(node, on) { if (node) node.hidden = !on; }

  function setText(id, text) {
    var n = $(id);
    if (n) n.textContent = text === null || text === undefined ? '' : String(text);
  }

  // A message into the element with that id, shown while there is one.
  function message(id, text) {
    var n = $(id);
    if (!n) return;
    n.textContent = text || '';
    show(n, !!text);
  }

  /* ---- the JSON APIs ----------------------------------------------------- */

  var NETWORK = 'Could not reach studiod. Check the connection and try again.';

  // fetch as JSON: resolves {status, ok, data}; rejects only when the network fails.
  function api(method, url, body, headers) {
    var h = { Accept: 'application/json' };
    if (method !== 'GET' && method !== 'HEAD' && document.querySelector('meta[name="csrf-token"]')) {
      h['X-CSRF-Token'] = meta('csrf-token');
    }
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    var init = { method: method, headers: h, credentials: 'same-origin' };
    if (body !== undefined) {
      h['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        return { status: res.status, ok: res.ok, data: data };
      });
    });
  }

  // The message of an error reply (the one error shape) for the staff pages, or a fallback.
  function errorMessage(r, fallback) {
    if (r && r.status === 401) return 'Your session has ended. Sign in again (reload the page).';
    var e = r && r.data && r.data.error;
    if (e && e.message) return e.message;
    if (r && r.status >= 500) return 'Something went wrong on the server. Try again in a moment.';
    return fallback;
  }

  // A list that may come bare or wrapped ({"rooms": [...]}, {"items": [...]}).
  function listOf(data, key) {
    if (Array.isArray(data)) return data;
    if (data && Array.isArray(data[key])) return data[key];
    if (data && Array.isArray(data.items)) return data.items;
    return [];
  }

  // An object that may come bare or wrapped ({"room": {...}}).
  function objectOf(data, key) {
    return data && data[key] && typeof data[key] === 'object' && !Array.isArray(data[key]) ? data[key] : data;
  }

  /* ---- a form's errors ---------------------------------------------------- */

  // A code or message as a sentence ("too_long" → "Too long."); empty: the
  // fallback ("Check this." unless given).
  function humanize(v, empty) {
    if (Array.isArray(v)) return v.map(function (x) { return humanize(x, empty); }).join(' ');
    if (v && typeof v === 'object') return v.message || humanize(v.code || '', empty);
    var s = String(v === null || v === undefined ? '' : v).replace(/_/g, ' ').trim();
    if (!s) return empty === undefined ? 'Check this.' : empty;
    s = s.charAt(0).toUpperCase() + s.slice(1);
    return /[.!?]$/.test(s) ? s : s + '.';
  }

  // Field errors of a 422 onto "<prefix><field>-error" elements (the input:
  // "<prefix><field>", or inputIds[field]); the rest, and the fields skip(field)
  // is true for, into the alert alertId after the reply's message.
  function showFieldErrors(r, prefix, alertId, inputIds, skip) {
    var fields = (r.data && r.data.error && r.data.error.fields) || {};
    var other = [], first = null;
    Object.keys(fields).forEach(function (name) {
      var k = name.replace(/\./g, '_'); // "deposit.value" → deposit_value
      var out = $(prefix + k + '-error');
      var input = inputIds && inputIds[k] ? $(inputIds[k]) : $(prefix + k);
      if (out && !(skip && skip(k))) {
        out.textContent = humanize(fields[name]);
        show(out, true);
        if (input) input.setAttribute('aria-invalid', 'true');
        first = first || input;
      } else {
        other.push(humanize(k).replace(/\.$/, '') + ': ' + humanize(fields[name]));
      }
    });
    message(alertId, errorMessage(r, 'Check the form.') + (other.length ? ' ' + other.join(' ') : ''));
    if (first) first.focus();
  }

  function clearFieldErrors(form) {
    Array.prototype.forEach.call(form.querySelectorAll('.field-error'), function (n) {
      n.textContent = '';
      show(n, false);
    });
    Array.prototype.forEach.call(form.querySelectorAll('[aria-invalid]'), function (n) {
      n.removeAttribute('aria-invalid');
    });
  }

  /* ---- small pieces -------------------------------------------------------- */

  function button(text, cls, onClick, ariaLabel) {
    var b = el('button', { type: 'button', className: 'button ' + cls, text: text,
      'aria-label': ariaLabel || null });
    b.addEventListener('click', function () { onClick(b); });
    return b;
  }

  var STATUS_LABELS = { pending: 'Pending', confirmed: 'Confirmed', cancelled: 'Cancelled', expired: 'Expired',
    completed: 'Completed' };

  // A booking's status in words.
  function statusLabel(s) {
    return STATUS_LABELS[s] || humanize(s || 'unknown').replace(/\.$/, '');
  }

  /* ---- money: integer minor units, the currency's own decimals ------------- */

  var cache = {};

  // The currency's format; no currency: the studio's (<meta name="studio-currency">), else EUR.
  function moneyFormat(currency) {
    var c = currency || meta('studio-currency') || 'EUR';
    if (!cache['m' + c]) {
      try {
        cache['m' + c] = new Intl.NumberFormat(undefined, { style: 'currency', currency: c });
      } catch (e) {
        cache['m' + c] = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'EUR' });
      }
    }
    return cache['m' + c];
  }

  function digits(currency) { return moneyFormat(currency).resolvedOptions().maximumFractionDigits; }

  function money(amount, currency) {
    if (amount === null || amount === undefined || amount === '') return '';
    return moneyFormat(currency).format(Number(amount) / Math.pow(10, digits(currency)));
  }

  // Minor units as a plain number for an input ("12.50"), no symbol.
  function toMajor(amount, currency) {
    if (amount === null || amount === undefined) return '';
    return (Number(amount) / Math.pow(10, digits(currency))).toFixed(digits(currency));
  }

  // "12,50" or "12.5" → 1250; NaN when it is not an amount.
  function toMinor(text, currency) {
    var s = String(text).trim().replace(/\s/g, '');
    if (/^\d+,\d+$/.test(s)) s = s.replace(',', '.');
    if (!/^\d+(\.\d+)?$/.test(s)) return NaN;
    var d = digits(currency);
    var parts = s.split('.');
    if (parts[1] && parts[1].length > d) return NaN;
    return Math.round(Number(s) * Math.pow(10, d));
  }

  /* ---- dates and times, in a zone ------------------------------------------ */

  function validZone(tz) {
    if (!tz) return false;
    try { new Intl.DateTimeFormat(undefined, { timeZone: tz }); return true; } catch (e) { return false; }
  }

  // The studio's zone of a staff page (<meta name="studio-timezone">), else UTC.
  function pageZone() {
    var tz = meta('studio-timezone');
    return validZone(tz) ? tz : 'UTC';
  }

  // An Intl.DateTimeFormat for these options (give timeZone), made once.
  function dateFormat(opts) {
    var k = 'd' + JSON.stringify(opts);
    return cache[k] || (cache[k] = new Intl.DateTimeFormat(undefined, opts));
  }

  // {date: "YYYY-MM-DD", minutes: since local midnight} of an instant (a Date or RFC 3339) in tz.
  function localParts(when, tz) {
    var d = typeof when === 'string' ? new Date(when) : when;
    var p = {};
    dateFormat({ timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit',
      minute: '2-digit', hourCycle: 'h23' }).formatToParts(d).forEach(function (x) { p[x.type] = x.value; });
    return { date: p.year + '-' + p.month + '-' + p.day, minutes: Number(p.hour) % 24 * 60 + Number(p.minute) };
  }

  // "18:00" of an instant in tz.
  function timeLabel(iso, tz) {
    return dateFormat({ timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(iso));
  }

  // A calendar date (YYYY-MM-DD, no zone, so UTC is exact) in words: style
  // "long" (weekday, day, month, year), "day" (short weekday, day, month), else day, month, year.
  function dateLabel(ymd, style) {
    var opts = style === 'long'
      ? { timeZone: 'UTC', weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }
      : style === 'day' ? { timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short' }
        : { timeZone: 'UTC', day: 'numeric', month: 'short', year: 'numeric' };
    return dateFormat(opts).format(new Date(ymd + 'T12:00:00Z'));
  }

  function addDays(ymd, n) {
    var p = ymd.split('-').map(Number);
    return new Date(Date.UTC(p[0], p[1] - 1, p[2] + n)).toISOString().slice(0, 10);
  }

  // An instant as "3 Jun 2025, 18:00" (with seconds if asked) in tz; '' for none,
  // the text itself when it is not a time.
  function instantLabel(iso, tz, seconds) {
    if (!iso) return '';
    var d = new Date(iso);
    if (isNaN(d.getTime())) return iso;
    var opts = { timeZone: tz, day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' };
    if (seconds) opts.second = '2-digit';
    opts.hourCycle = 'h23';
    return dateFormat(opts).format(d);
  }

  window.studiod = {
    meta: meta, $: $, el: el, show: show, setText: setText, message: message,
    NETWORK: NETWORK, api: api, errorMessage: errorMessage, listOf: listOf, objectOf: objectOf,
    humanize: humanize, showFieldErrors: showFieldErrors, clearFieldErrors: clearFieldErrors,
    button: button, STATUS_LABELS: STATUS_LABELS, statusLabel: statusLabel,
    moneyFormat: moneyFormat, digits: digits, money: money, toMajor: toMajor, toMinor: toMinor,
    validZone: validZone, pageZone: pageZone, dateFormat: dateFormat, localParts: localParts,
    timeLabel: timeLabel, dateLabel: dateLabel, addDays: addDays, instantLabel: instantLabel
  };
})();
