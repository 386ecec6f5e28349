/*
 * team.js — the team page (templates/staff/team.html), no framework: lists
 * the studio's staff from /api/staff, invites someone (POST /api/staff),
 * re-sends an invitation, deactivates, reactivates and removes; gives a
 * member a role, for good or until a time (POST /api/users/:id/roles), and
 * takes one away (DELETE /api/users/:id/roles/:role_id).
 *
 * Unsafe requests carry X-CSRF-Token from <meta name="csrf-token"> (the
 * session's token, rendered by the server). Roles come from /api/roles when
 * that API answers (it needs roles:view); otherwise the role choices stay
 * hidden, people are invited without a role and their roles are only
 * listed. Times are shown in the studio's zone (<meta name="studio-timezone">);
 * an expiry is typed in the browser's own time (what a datetime-local input
 * means) and sent as RFC 3339 with the browser's offset for that moment.
 */
(function () {
  'use strict';

  var root = document.querySelector('[data-page="team"]');
  if (!root) return;

  var ui = window.studiod;
  var $ = ui.$, el = ui.el, show = ui.show, message = ui.message, api = ui.api,
    errorMessage = ui.errorMessage, humanize = ui.humanize, listOf = ui.listOf, button = ui.button;
  var TZ = ui.pageZone();
  var ME = root.getAttribute('data-me') || '';
  var NETWORK = ui.NETWORK;

  /* ---- helpers ----------------------------------------------------------- */

  function pad(n, width) {
    var s = String(n);
    while (s.length < (width || 2)) s = '0' + s;
    return s;
  }

  // "+01:00" for an offset in minutes east of UTC.
  function offsetText(minutes) {
    var sign = minutes < 0 ? '-' : '+';
    var m = Math.abs(minutes);
    return sign + pad(Math.floor(m / 60)) + ':' + pad(m % 60);
  }

  // A datetime-local value ("2025-06-01T18:00") as RFC 3339 in the browser's zone
  // ("2025-06-01T18:00:00+02:00"), or null when it is not a time.
  function localToRfc3339(value) {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value || '')) return null;
    var d = new Date(value); // a date-time without an offset is local time
    if (isNaN(d.getTime())) return null;
    return pad(d.getFullYear(), 4) + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) +
      offsetText(-d.getTimezoneOffset());
  }

  // Now, as a datetime-local value (the input's lower bound).
  function localNowValue() {
    var d = new Date();
    return pad(d.getFullYear(), 4) + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' +
      pad(d.getHours()) + ':' + pad(d.getMinutes());
  }

  function dateTimeLabel(iso) { return ui.instantLabel(iso, TZ); }

  /* ---- the list ---------------------------------------------------------- */

  var ROLES = null; // [{id, name, builtin}] once /api/roles answered; null: no role controls

  function statusBadge(m) {
    if (!m.active) return el('span', { className: 'badge badge--cancelled', text: 'Deactivated' });
    if (m.invited) {
      var expired = !m.invitation_expires_at || new Date(m.invitation_expires_at) <= new Date();
      return el('span', { className: 'badge badge--pending',
        text: expired ? 'Invitation expired' : 'Invited' });
    }
    return el('span', { className: 'badge badge--confirmed', text: 'Active' });
  }

  function act(b, method, url, body, done) {
    b.disabled = true;
    message('staff-error', '');
    api(method, url, body).then(function (r) {
      b.disabled = false;
      if (!r.ok) { message('staff-error', errorMessage(r, 'That did not work.') + fieldsText(r)); return; }
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

  // What a refusal's fields add to its message ("Permissions: billing:manage.").
  function fieldsText(r) {
    var fields = (r && r.data && r.data.error && r.data.error.fields) || {};
    return Object.keys(fields).filter(function (k) { return typeof fields[k] === 'string'; })
      .map(function (k) { return ' ' + humanize(k).replace(/\.$/, '') + ': ' + humanize(fields[k]); })
      .join('');
  }

  /* ---- roles of a member --------------------------------------------------- */

  function roleItem(m, r) {
    var item = el('li', { className: 'member-role' }, [
      el('span', { className: 'member-role__name', text: r.name }),
      el('span', { className: 'member-role__until muted',
        text: r.expires_at ? 'until ' + dateTimeLabel(r.expires_at) : 'no end' })
    ]);
    if (ROLES) {
      item.appendChild(button('Remove', 'button--link member-role__remove', function (b) {
        if (!window.confirm('Take the role "' + r.name + '" away from ' + m.name + '?')) return;
        act(b, 'DELETE', '/api/users/' + encodeURIComponent(m.id) + '/roles/' + encodeURIComponent(r.id),
          undefined, function () { return m.name + ' no longer has the role "' + r.name + '".'; });
      }, 'Remove the role ' + r.name + ' from ' + m.name));
    }
    return item;
  }

  // The "Add role" disclosure of one member: a role and, if wanted, when it ends.
  function addRoleForm(m) {
    var key = m.id;
    var ids = { role: 'add-role-' + key, expires: 'add-expires-' + key, hint: 'add-expires-hint-' + key,
      roleError: 'add-role-error-' + key, expiresError: 'add-expires-error-' + key, alert: 'add-error-' + key };
    var select = el('select', { id: ids.role, name: 'role_id', 'aria-describedby': ids.roleError },
      [el('option', { value: '', text: 'Choose a role' })].concat(ROLES.map(function (x) {
        return el('option', { value: x.id, text: x.name });
      })));
    var expires = el('input', { id: ids.expires, name: 'expires_at', type: 'datetime-local',
      min: localNowValue(), 'aria-describedby': ids.hint + ' ' + ids.expiresError });
    var submit = el('button', { type: 'submit', className: 'button', text: 'Give role' });
    var form = el('form', { className: 'role-add__form', novalidate: true }, [
      el('p', { id: ids.alert, className: 'error', role: 'alert', hidden: true }),
      el('div', { className: 'field' }, [
        el('label', { 'for': ids.role, text: 'Role' }), select,
        el('span', { id: ids.roleError, className: 'field-error', hidden: true })
      ]),
      el('div', { className: 'field' }, [
        el('label', { 'for': ids.expires }, ['Expires at ', el('span', { className: 'muted', text: '(optional)' })]),
        expires,
        el('span', { id: ids.hint, className: 'hint',
          text: 'In your own time zone (UTC' + offsetText(-new Date().getTimezoneOffset()) +
            '). Leave it empty for a role without end; giving a role again replaces its end.' }),
        el('span', { id: ids.expiresError, className: 'field-error', hidden: true })
      ]),
      submit
    ]);

    function fieldError(id, input, text) {
      var out = $(id);
      out.textContent = text || '';
      show(out, !!text);
      if (text) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
    }

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      message(ids.alert, '');
      fieldError(ids.roleError, select, '');
      fieldError(ids.expiresError, expires, '');
      if (!select.value) {
        fieldError(ids.roleError, select, 'Choose a role.');
        select.focus();
        return;
      }
      var body = { role_id: select.value };
      if (expires.value) {
        var at = localToRfc3339(expires.value);
        if (!at) {
          fieldError(ids.expiresError, expires, 'Enter a date and a time, or leave it empty.');
          expires.focus();
          return;
        }
        body.expires_at = at;
      }
      var roleName = select.options[select.selectedIndex].text;
      submit.disabled = true;
      api('POST', '/api/users/' + encodeURIComponent(m.id) + '/roles', body).then(function (r) {
        submit.disabled = false;
        if (r.ok) {
          var until = r.data && r.data.expires_at ? ' until ' + dateTimeLabel(r.data.expires_at) : '';
          $('staff-status').textContent = (r.status === 200
            ? m.name + ' already had the role "' + roleName + '"; it now lasts' + (until || ' with no end')
            : m.name + ' now has the role "' + roleName + '"' + until) + '.';
          load(function () { $('staff-status').focus(); });
          return;
        }
        var fields = (r.data && r.data.error && r.data.error.fields) || {};
        if (typeof fields.role_id === 'string') fieldError(ids.roleError, select, humanize(fields.role_id));
        if (typeof fields.expires_at === 'string') fieldError(ids.expiresError, expires, humanize(fields.expires_at));
        var rest = {};
        Object.keys(fields).forEach(function (k) { if (k !== 'role_id' && k !== 'expires_at') rest[k] = fields[k]; });
        message(ids.alert, errorMessage(r, 'The role could not be given.') +
          fieldsText({ data: { error: { fields: rest } } }));
        (typeof fields.expires_at === 'string' ? expires : select).focus();
      }, function () {
        submit.disabled = false;
        message(ids.alert, NETWORK);
      });
    });

    return el('details', { className: 'role-add' }, [el('summary', { text: 'Add role' }), form]);
  }

  function rolesCell(m) {
    var roles = m.roles || [];
    var cell = el('div', { className: 'member-roles' });
    if (roles.length) {
      cell.appendChild(el('ul', { className: 'member-roles__list', 'aria-label': 'Roles of ' + m.name },
        roles.map(function (r) { return roleItem(m, r); })));
    } else {
      cell.appendChild(el('span', { className: 'muted', text: 'No role' }));
    }
    if (ROLES && ROLES.length && m.active) cell.appendChild(addRoleForm(m));
    return cell;
  }

  function render(list) {
    var body = $('staff-body');
    body.textContent = '';
    list.forEach(function (m) {
      body.appendChild(el('tr', { 'data-member': m.id }, [
        el('td', { 'data-label': 'Name' }, [el('div', null, [m.name,
          m.id === ME ? el('span', { className: 'muted', text: ' (you)' }) : null])]),
        el('td', { 'data-label': 'E-mail' }, [el('span', { className: 'member-email', text: m.email })]),
        el('td', { 'data-label': 'Roles' }, [rolesCell(m)]),
        el('td', { 'data-label': 'Last sign-in', text: m.last_login_at ? dateTimeLabel(m.last_login_at) : 'Never' }),
        el('td', { 'data-label': 'Status' }, [statusBadge(m)]),
        el('td', { 'data-label': 'Actions' }, [actions(m)])
      ]));
    });
    show($('staff-table'), list.length > 0);
  }

  // Reads the team again; then() runs after the list is drawn.
  function load(then) {
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
      if (then) then();
    }, function () {
      message('staff-error', NETWORK);
    });
  }

  /* ---- inviting ---------------------------------------------------------- */

  // Resolves true when the roles are known (ROLES set), false when the page goes without.
  function loadRoles() {
    return api('GET', '/api/roles').then(function (r) {
      if (!r.ok) return false; // no roles:view: invite without a role, list roles only
      var roles = listOf(r.data, 'roles').filter(function (x) { return x && x.id && x.name; });
      if (!roles.length) return false;
      ROLES = roles;
      var select = $('invite-role_id');
      roles.forEach(function (x) { select.appendChild(el('option', { value: x.id, text: x.name })); });
      show($('invite-role-field'), true);
      return true;
    }, function () { return false; /* the page works without roles */ });
  }

  function clearErrors(form) {
    ui.clearFieldErrors(form);
    message('invite-error', '');
  }

  // A role chosen in a hidden field cannot be marked there: its error goes into the alert.
  function showErrors(r) {
    ui.showFieldErrors(r, 'invite-', 'invite-error', null, function (name) {
      return name === 'role_id' && $('invite-role-field').hidden;
    });
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

  // The list waits for the roles, so that each row is drawn once with its role controls.
  loadRoles().then(function () { load(); });
})();
