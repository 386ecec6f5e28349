/*
 * team.js — the team page (templates/staff/team.html), no framework: lists
 * the studio's staff from /api/staff, invites someone (POST /api/staff),
 * re-sends an invitation, deactivates, reactivates and removes.
 *
 * Unsafe requests carry X-CSRF-Token from <meta name="csrf-token"> (the
 * session's token, rendered by the server). Roles for the invitation come
 * from /api/roles when that API answers; otherwise the role choice stays
 * hidden and people are invited without a role. Times are shown in the
 * studio's zone (<meta name="studio-timezone">).
 */
(function () {
  'use strict';

  var root = document.querySelector('[data-page="team"]');
  if (!root) return;

  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute('content') : '';
  }

  var CSRF = meta('csrf-token');
  var TZ = validZone(meta('studio-timezone')) ? meta('studio-timezone') : 'UTC';
  var ME = root.getAttribute('data-me') || '';
  var NETWORK = 'Could not reach studiod. Check the connection and try again.';

  /* ---- helpers ----------------------------------------------------------- */

  function $(id) { return document.getElementById(id); }

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

  function message(id, text) {
    var n = $(id);
    if (!n) return;
    n.textContent = text || '';
    show(n, !!text);
  }

  function validZone(tz) {
    if (!tz) return false;
    try { new Intl.DateTimeFormat(undefined, { timeZone: tz }); return true; } catch (e) { return false; }
  }

  // fetch as JSON: resolves {status, ok, data}; rejects only when the network fails.
  function api(method, url, body) {
    var h = { Accept: 'application/json' };
    if (method !== 'GET' && method !== 'HEAD') h['X-CSRF-Token'] = CSRF;
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

  function errorMessage(r, fallback) {
    if (r && r.status === 401) return 'Your session has ended. Sign in again (reload the page).';
    var e = r && r.data && r.data.error;
    if (e && e.message) return e.message;
    if (r && r.status >= 500) return 'Something went wrong on the server. Try again in a moment.';
    return fallback;
  }

  function humanize(v) {
    var s = String(v === null || v === undefined ? '' : v).replace(/_/g, ' ').trim();
    if (!s) return 'Check this.';
    s = s.charAt(0).toUpperCase() + s.slice(1);
    return /[.!?]$/.test(s) ? s : s + '.';
  }

  function listOf(data, key) {
    if (Array.isArray(data)) return data;
    if (data && Array.isArray(data[key])) return data[key];
    if (data && Array.isArray(data.items)) return data.items;
    return [];
  }

  var when = null;
  function dateTimeLabel(iso) {
    if (!iso) return '';
    when = when || new Intl.DateTimeFormat(undefined, { timeZone: TZ, day: 'numeric',
      month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    return when.format(new Date(iso));
  }

  /* ---- the list ---------------------------------------------------------- */

  function roleText(roles) {
    if (!roles || !roles.length) return 'No role';
    return roles.map(function (r) {
      return r.expires_at ? r.name + ' (until ' + dateTimeLabel(r.expires_at) + ')' : r.name;
    }).join(', ');
  }

  function statusBadge(m) {
    if (!m.active) return el('span', { className: 'badge badge--cancelled', text: 'Deactivated' });
    if (m.invited) {
      var expired = !m.invitation_expires_at || new Date(m.invitation_expires_at) <= new Date();
      return el('span', { className: 'badge badge--pending',
        text: expired ? 'Invitation expired' : 'Invited' });
    }
    return el('span', { className: 'badge badge--confirmed', text: 'Active' });
  }

  function button(text, cls, onClick, label) {
    var b = el('button', { type: 'button', className: 'button ' + cls, text: text,
      'aria-label': label || null });
    b.addEventListener('click', function () { onClick(b); });
    return b;
  }

  function act(b, method, url, body, done) {
    b.disabled = true;
    message('staff-error', '');
    api(method, url, body).then(function (r) {
      b.disabled = false;
      if (!r.ok) { message('staff-error', errorMessage(r, 'That did not work.')); return; }
      $('staff-status').textContent = done(r);
      load();
    }, function () {
      b.disabled = false;
      message('staff-error', NETWORK);
    });
  }

  function actions(m) {
    var url = '/api/staff/' + encodeURIComponent(m.id);
    var cell = el('div', { className: 'button-row' });
    if (m.active && m.invited) {
      cell.appendChild(button('Re-send invitation', 'button--secondary', function (b) {
        act(b, 'POST', url + '/invite', undefined, function () {
          return 'A new invitation was sent to ' + m.email + '; the previous link no longer works.';
        });
      }, 'Re-send the invitation to ' + m.name));
    }
    if (m.id === ME) return cell;
    if (m.active) {
      cell.appendChild(button('Deactivate', 'button--secondary', function (b) {
        if (!window.confirm('Deactivate ' + m.name + '? They are signed out at once and cannot sign in until reactivated.')) return;
        act(b, 'PUT', url, { active: false }, function () { return m.name + ' was deactivated.'; });
      }, 'Deactivate ' + m.name));
    } else {
      cell.appendChild(button('Reactivate', 'button--secondary', function (b) {
        act(b, 'PUT', url, { active: true }, function () { return m.name + ' was reactivated.'; });
      }, 'Reactivate ' + m.name));
    }
    cell.appendChild(button('Remove', 'button--danger', function (b) {
      if (!window.confirm('Remove ' + m.name + '? Someone with history in the studio is deactivated instead, so that history keeps their name.')) return;
      act(b, 'DELETE', url, undefined, function (r) {
        return r.status === 204 ? m.name + ' was removed.'
          : m.name + ' has history in the studio, so they were deactivated instead.';
      });
    }, 'Remove ' + m.name));
    return cell;
  }

  function render(list) {
    var body = $('staff-body');
    body.textContent = '';
    list.forEach(function (m) {
      body.appendChild(el('tr', null, [
        el('td', null, [m.name, m.id === ME ? el('span', { className: 'muted', text: ' (you)' }) : null]),
        el('td', { text: m.email }),
        el('td', { text: roleText(m.roles) }),
        el('td', { text: m.last_login_at ? dateTimeLabel(m.last_login_at) : 'Never' }),
        el('td', null, [statusBadge(m)]),
        el('td', null, [actions(m)])
      ]));
    });
    show($('staff-table'), list.length > 0);
  }

  function load() {
    api('GET', '/api/staff').then(function (r) {
      if (!r.ok) {
        $('staff-status').textContent = '';
        message('staff-error', errorMessage(r, 'The team could not be loaded.'));
        return;
      }
      var list = listOf(r.data, 'staff');
      if ($('staff-status').textContent === 'Loading…')
        $('staff-status').textContent = list.length === 1 ? '1 person' : list.length + ' people';
      render(list);
    }, function () {
      message('staff-error', NETWORK);
    });
  }

  /* ---- inviting ---------------------------------------------------------- */

  function loadRoles() {
    api('GET', '/api/roles').then(function (r) {
      if (!r.ok) return; // no roles API (yet): invite without a role
      var roles = listOf(r.data, 'roles').filter(function (x) { return x && x.id && x.name; });
      if (!roles.length) return;
      var select = $('invite-role_id');
      roles.forEach(function (x) { select.appendChild(el('option', { value: x.id, text: x.name })); });
      show($('invite-role-field'), true);
    }, function () { /* the form works without roles */ });
  }

  function clearErrors(form) {
    Array.prototype.forEach.call(form.querySelectorAll('.field-error'), function (n) {
      n.textContent = '';
      show(n, false);
    });
    Array.prototype.forEach.call(form.querySelectorAll('[aria-invalid]'), function (n) {
      n.removeAttribute('aria-invalid');
    });
    message('invite-error', '');
  }

  function showErrors(r) {
    var fields = (r.data && r.data.error && r.data.error.fields) || {};
    var other = [], first = null;
    Object.keys(fields).forEach(function (name) {
      var out = $('invite-' + name + '-error'), input = $('invite-' + name);
      if (out && !(name === 'role_id' && $('invite-role-field').hidden)) {
        out.textContent = humanize(fields[name]);
        show(out, true);
        if (input) input.setAttribute('aria-invalid', 'true');
        first = first || input;
      } else {
        other.push(humanize(name).replace(/\.$/, '') + ': ' + humanize(fields[name]));
      }
    });
    message('invite-error', errorMessage(r, 'Check the form.') + (other.length ? ' ' + other.join(' ') : ''));
    if (first) first.focus();
  }

  var form = $('invite-form');
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    clearErrors(form);
    $('invite-sent').textContent = '';
    var body = { name: $('invite-name').value.trim(), email: $('invite-email').value.trim() };
    var role = $('invite-role_id').value;
    if (role) body.role_id = role;
    var send = $('invite-send');
    send.disabled = true;
    api('POST', '/api/staff', body).then(function (r) {
      send.disabled = false;
      if (r.status === 201) {
        var m = r.data || {};
        $('invite-sent').textContent = m.invitation_sent === false
          ? (m.name || body.name) + ' was added, but the e-mail could not be queued: use "Re-send invitation".'
          : 'Invitation sent to ' + (m.email || body.email) + '.';
        form.reset();
        load();
        return;
      }
      showErrors(r);
    }, function () {
      send.disabled = false;
      message('invite-error', NETWORK);
    });
  });

  load();
  loadRoles();
})();
