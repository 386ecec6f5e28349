/*
 * audit.js — the audit log page (templates/staff/audit.html), no framework.
 * The filters live in the address (a plain GET form): the page reads them,
 * asks GET /api/audit-logs for one page of entries (newest first) and draws
 * them; each entry's details (what changed, before and after, where from,
 * which risk rules fired) open in a row below it. "Export CSV" is a link to
 * GET /api/audit-logs/export with the same filters (the browser downloads
 * it; the export is itself audited); "Verify chain" asks GET
 * /api/audit-logs/verify and says what it found.
 *
 * Risk is shown as a badge with words ("High risk"), colour only helping.
 * Times are shown in the studio's zone (<meta name="studio-timezone">).
 */
(function () {
  'use strict';

  var root = document.querySelector('[data-page="audit"]');
  if (!root) return;

  var ui = window.studiod;
  var $ = ui.$, el = ui.el, show = ui.show, message = ui.message, errorMessage = ui.errorMessage;
  var TZ = ui.pageZone();
  var CAN_EXPORT = root.getAttribute('data-can-export') === '1';
  var PAGE = 50;
  var KEYS = ['actor', 'action', 'resource', 'risk', 'from', 'to', 'q'];
  var NETWORK = ui.NETWORK;
  var RISK_TEXT = { high: 'High risk', medium: 'Medium risk', low: 'Low risk', none: 'No risk' };
  var ACTOR_TEXT = { system: 'studiod (automatic)', customer: 'A customer', admin: 'Platform admin',
    anonymous: 'Not signed in' };

  /* ---- helpers ----------------------------------------------------------- */

  // A GET as JSON: {status, ok, data}.
  function api(url) { return ui.api('GET', url); }

  // A code as a label ("not_found" → "Not found"), no full stop: not ui.humanize's sentence.
  function humanize(v) {
    var s = String(v === null || v === undefined ? '' : v).replace(/_/g, ' ').trim();
    if (!s) return '';
    return s.charAt(0).toUpperCase() + s.slice(1);
  }

  function dateTimeLabel(iso) { return ui.instantLabel(iso, TZ, true); }

  // A stored value as text: strings as they are, the rest as JSON.
  function valueText(v) {
    if (v === undefined) return '';
    if (v === null) return '—';
    if (typeof v === 'string') return v;
    return JSON.stringify(v, null, 1);
  }

  /* ---- filters ------------------------------------------------------------ */

  var params = new URLSearchParams(location.search);
  KEYS.forEach(function (k) {
    var v = params.get(k);
    if (!v) return;
    var input = $('f-' + k);
    if (input.tagName === 'SELECT' && !Array.prototype.some.call(input.options, function (o) { return o.value === v; })) {
      input.appendChild(el('option', { value: v, text: v }));
    }
    input.value = v;
  });
  var offset = Math.max(0, parseInt(params.get('offset') || '0', 10) || 0);

  // Empty fields leave the address: the form submits only what is set.
  $('audit-filters').addEventListener('submit', function () {
    KEYS.forEach(function (k) { var n = $('f-' + k); n.disabled = !n.value; });
    setTimeout(function () { KEYS.forEach(function (k) { $('f-' + k).disabled = false; }); }, 0);
  });

  var filters = new URLSearchParams();
  KEYS.forEach(function (k) { if (params.get(k)) filters.set(k, params.get(k)); });

  if (CAN_EXPORT) {
    var f = filters.toString();
    $('audit-export').href = '/api/audit-logs/export' + (f ? '?' + f : '');
    $('audit-export').setAttribute('aria-label', f ? 'Export CSV of the entries these filters show' : 'Export CSV of every entry');
    show($('audit-export'), true);
  }

  function pageHref(off) {
    var p = new URLSearchParams(location.search);
    if (off > 0) p.set('offset', String(off)); else p.delete('offset');
    var s = p.toString();
    return location.pathname + (s ? '?' + s : '');
  }

  function showFilterErrors(r) {
    var fields = (r.data && r.data.error && r.data.error.fields) || {};
    var other = [];
    Object.keys(fields).forEach(function (name) {
      var out = $('f-' + name + '-error');
      if (out) {
        out.textContent = humanize(fields[name]) + '.';
        show(out, true);
        $('f-' + name).setAttribute('aria-invalid', 'true');
      } else {
        other.push(humanize(name) + ': ' + fields[name] + '.');
      }
    });
    message('audit-error', errorMessage(r, 'Check the filters.') + (other.length ? ' ' + other.join(' ') : ''));
  }

  /* ---- entries ------------------------------------------------------------ */

  function riskBadge(level) {
    var l = RISK_TEXT[level] ? level : 'none';
    return el('span', { className: 'badge risk risk--' + l, text: RISK_TEXT[l] });
  }

  function actorCell(a) {
    a = a || {};
    var name = a.name || a.email || ACTOR_TEXT[a.type] || humanize(a.type) || 'Unknown';
    var lines = [el('span', { className: 'audit-actor__name', text: name })];
    if (a.email && a.email !== name) lines.push(el('span', { className: 'muted small', text: a.email }));
    if (a.type && a.type !== 'user' && name !== ACTOR_TEXT[a.type]) {
      lines.push(el('span', { className: 'muted small', text: ACTOR_TEXT[a.type] || humanize(a.type) }));
    }
    return el('div', { className: 'audit-actor' }, lines);
  }

  function changesTable(e) {
    var before = e.before, after = e.after;
    var objects = (before === null || typeof before === 'object' && !Array.isArray(before)) &&
      (after === null || typeof after === 'object' && !Array.isArray(after));
    if (before == null && after == null) return el('p', { className: 'muted', text: 'No values were recorded.' });
    var rows = [];
    if (objects) {
      var keys = Object.keys(before || {});
      Object.keys(after || {}).forEach(function (k) { if (keys.indexOf(k) < 0) keys.push(k); });
      keys.sort();
      keys.forEach(function (k) {
        rows.push(el('tr', null, [
          el('th', { scope: 'row', text: k }),
          el('td', { 'data-label': 'Before' }, [el('span', { className: 'audit-value',
            text: before && k in before ? valueText(before[k]) : '—' })]),
          el('td', { 'data-label': 'After' }, [el('span', { className: 'audit-value',
            text: after && k in after ? valueText(after[k]) : '—' })])
        ]));
      });
    } else {
      rows.push(el('tr', null, [
        el('th', { scope: 'row', text: 'Value' }),
        el('td', { 'data-label': 'Before' }, [el('span', { className: 'audit-value', text: valueText(before) })]),
        el('td', { 'data-label': 'After' }, [el('span', { className: 'audit-value', text: valueText(after) })])
      ]));
    }
    return el('table', { className: 'audit-changes' }, [
      el('caption', { text: 'What changed' }),
      el('thead', null, [el('tr', null, [el('th', { scope: 'col', text: 'Field' }),
        el('th', { scope: 'col', text: 'Before' }), el('th', { scope: 'col', text: 'After' })])]),
      el('tbody', null, rows)
    ]);
  }

  function fact(term, value, cls) {
    if (value === null || value === undefined || value === '') return [];
    return [el('dt', { text: term }), el('dd', { className: cls || null, text: String(value) })];
  }

  function detailPanel(e) {
    var rules = e.risk_rules || [];
    var facts = [].concat(
      fact('Entry', '#' + e.id),
      fact('Time (UTC)', e.at),
      fact('Resource id', e.resource_id, 'audit-code'),
      fact('Risk rules', rules.length ? rules.join(', ') : 'none', 'audit-code'),
      fact('IP address', e.ip, 'audit-code'),
      fact('Browser', e.user_agent),
      fact('Request id', e.request_id, 'audit-code'),
      fact('Actor id', e.actor && e.actor.id, 'audit-code'),
      fact('Hash', e.hash, 'audit-code audit-hash')
    );
    return el('div', { className: 'audit-detail__body' }, [changesTable(e), el('dl', { className: 'facts audit-facts' }, facts)]);
  }

  function render(entries) {
    var body = $('audit-body');
    body.textContent = '';
    entries.forEach(function (e) {
      var detailId = 'audit-detail-' + e.id;
      var rules = e.risk_rules || [];
      var toggle = el('button', { type: 'button', className: 'button button--secondary audit-toggle',
        'aria-expanded': 'false', 'aria-controls': detailId, text: 'Show details',
        'aria-label': 'Details of entry ' + e.id });
      var detail = el('tr', { id: detailId, className: 'audit-detail', hidden: true }, [
        el('td', { colspan: '6' }, [detailPanel(e)])
      ]);
      toggle.addEventListener('click', function () {
        var open = toggle.getAttribute('aria-expanded') !== 'true';
        toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
        toggle.textContent = open ? 'Hide details' : 'Show details';
        show(detail, open);
      });
      body.appendChild(el('tr', { className: 'audit-entry', 'data-entry': String(e.id) }, [
        el('td', { 'data-label': 'When' }, [el('time', { datetime: e.at, text: dateTimeLabel(e.at) })]),
        el('td', { 'data-label': 'Who' }, [actorCell(e.actor)]),
        el('td', { 'data-label': 'Action' }, [el('span', { className: 'audit-code', text: e.action })]),
        el('td', { 'data-label': 'Resource' }, [el('div', null, [
          el('span', { className: 'audit-code', text: e.resource }),
          e.resource_id ? el('span', { className: 'muted small audit-id', text: e.resource_id }) : null
        ])]),
        el('td', { 'data-label': 'Risk' }, [el('div', { className: 'audit-risk' }, [riskBadge(e.risk_level),
          rules.length ? el('ul', { className: 'audit-rules', 'aria-label': 'Risk rules' },
            rules.map(function (r) { return el('li', { text: humanize(r) }); })) : null])]),
        el('td', { 'data-label': 'Details' }, [toggle])
      ]));
      body.appendChild(detail);
    });
    show($('audit-table'), entries.length > 0);
  }

  function load() {
    var q = new URLSearchParams(filters.toString());
    q.set('limit', String(PAGE));
    q.set('offset', String(offset));
    api('/api/audit-logs?' + q.toString()).then(function (r) {
      if (!r.ok) {
        $('audit-status').textContent = '';
        if (r.status === 422) showFilterErrors(r);
        else message('audit-error', errorMessage(r, 'The audit log could not be loaded.'));
        return;
      }
      var entries = (r.data && r.data.entries) || [];
      var total = r.data && typeof r.data.total === 'number' ? r.data.total : entries.length;
      render(entries);
      $('audit-status').textContent = entries.length
        ? (total === 1 ? '1 entry' : total + ' entries') +
          (filters.toString() ? (total === 1 ? ' matches' : ' match') + ' these filters.' : '.')
        : (filters.toString() ? 'No entries match these filters.' : 'No entries yet.');
      if (total > PAGE || offset > 0) {
        show($('audit-pager'), true);
        var prev = $('page-prev'), next = $('page-next');
        show(prev, offset > 0);
        prev.href = pageHref(Math.max(0, offset - PAGE));
        show(next, offset + entries.length < total);
        next.href = pageHref(offset + PAGE);
        $('page-info').textContent = entries.length
          ? (offset + 1) + '–' + (offset + entries.length) + ' of ' + total : '';
      }
    }, function () {
      $('audit-status').textContent = '';
      message('audit-error', NETWORK);
    });
  }

  /* ---- verifying the chain ----------------------------------------------- */

  $('audit-verify').addEventListener('click', function () {
    var b = $('audit-verify'), out = $('verify-result');
    b.disabled = true;
    out.className = 'verify-result';
    out.textContent = 'Verifying…';
    show(out, true);
    api('/api/audit-logs/verify').then(function (r) {
      b.disabled = false;
      var d = r.data || {};
      if (!r.ok) {
        out.className = 'verify-result verify-result--bad';
        out.textContent = errorMessage(r, 'The chain could not be verified.');
      } else if (d.ok) {
        out.className = 'verify-result verify-result--ok';
        out.textContent = 'Chain intact: ' + (d.entries === 1 ? '1 entry' : d.entries + ' entries') +
          ' verified, none changed or removed.';
      } else {
        out.className = 'verify-result verify-result--bad';
        out.textContent = 'Chain broken at entry #' + d.first_broken_id +
          (d.at ? ' (' + dateTimeLabel(d.at) + ')' : '') + ': ' + humanize(d.reason || 'mismatch').toLowerCase() +
          '. ' + d.entries + ' earlier ' + (d.entries === 1 ? 'entry' : 'entries') + ' verified. ' +
          'An entry was changed or removed after it was written.';
      }
    }, function () {
      b.disabled = false;
      out.className = 'verify-result verify-result--bad';
      out.textContent = NETWORK;
    });
  });

  load();
})();
