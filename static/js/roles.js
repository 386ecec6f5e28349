/*
 * roles.js — the roles page (templates/staff/roles.html), no framework:
 * lists the studio's roles (GET /api/roles), makes and changes roles of the
 * studio's own (POST /api/roles, PUT /api/roles/:id), deletes them, and
 * edits the permissions of one role in a grid of resources × actions.
 *
 * The grid's states come from the API, never from rules of the page's own:
 * a role's own grants are its "permissions" in /api/roles (as granted, so
 * "manage" stays one tick); what it inherits is its parent's row in
 * /api/permissions/matrix (every permission the parent has, itself or from
 * further up), else the role's own "inherited" cells there. Inherited
 * permissions and those a ticked "manage" includes are shown ticked and
 * cannot be changed here. Saving sends the whole set of own grants (PUT
 * {"permissions": [...]}); the server refuses what the user may not grant
 * (403 privilege_escalation) and parents that would close a loop (422
 * role_cycle), and the page says so.
 *
 * The chosen role is kept in the address (?role=<id>). Unsafe requests
 * carry X-CSRF-Token from <meta name="csrf-token">.
 */
(function () {
  'use strict';

  var root = document.querySelector('[data-page="roles"]');
  if (!root) return;

  var ui = window.studiod;
  var $ = ui.$, el = ui.el, show = ui.show, message = ui.message, api = ui.api,
    errorMessage = ui.errorMessage, humanize = ui.humanize, button = ui.button;
  var CAN = {
    create: root.getAttribute('data-can-create') === '1',
    update: root.getAttribute('data-can-update') === '1',
    remove: root.getAttribute('data-can-delete') === '1'
  };
  var NETWORK = ui.NETWORK;

  /* ---- helpers ----------------------------------------------------------- */

  function setStatus(text) { $('roles-status').textContent = text || ''; }

  function errorOf(r) { return (r && r.data && r.data.error) || {}; }

  function label(name) {
    if (name === 'ai') return 'AI';
    var s = String(name || '').replace(/_/g, ' ');
    return s.charAt(0).toUpperCase() + s.slice(1);
  }

  /* ---- state ------------------------------------------------------------- */

  var roles = [];          // /api/roles
  var matrix = null;       // /api/permissions/matrix
  var selectedId = new URLSearchParams(location.search).get('role') || '';
  var draft = null;        // {"resource:action": true} being edited for selectedId
  var editingId = null;    // the role in the form (null: a new one)

  function roleById(id) {
    for (var i = 0; i < roles.length; i++) if (roles[i].id === id) return roles[i];
    return null;
  }

  function matrixRow(id) {
    var list = (matrix && matrix.roles) || [];
    for (var i = 0; i < list.length; i++) if (list[i].id === id) return list[i];
    return null;
  }

  function ownSet(role) {
    var set = {};
    (role.permissions || []).forEach(function (p) { set[p.resource + ':' + p.action] = true; });
    return set;
  }

  function sameSet(a, b) {
    var ka = Object.keys(a).filter(function (k) { return a[k]; });
    var kb = Object.keys(b).filter(function (k) { return b[k]; });
    return ka.length === kb.length && ka.every(function (k) { return b[k]; });
  }

  function editable(role) { return !!role && !role.builtin && CAN.update; }

  function dirty() {
    var role = roleById(selectedId);
    return !!(role && draft && editable(role) && !sameSet(draft, ownSet(role)));
  }

  function remember(id) {
    var p = new URLSearchParams(location.search);
    if (id) p.set('role', id); else p.delete('role');
    var s = p.toString();
    history.replaceState(null, '', location.pathname + (s ? '?' + s : ''));
  }

  /* ---- the list ---------------------------------------------------------- */

  function renderList() {
    var body = $('roles-body');
    body.textContent = '';
    roles.forEach(function (role) {
      var parent = role.parent_id ? roleById(role.parent_id) : null;
      var actions = el('div', { className: 'button-row' });
      actions.appendChild(button(editable(role) ? 'Permissions' : 'View permissions', 'button--secondary',
        function () { selectRole(role.id, true); },
        (editable(role) ? 'Permissions of ' : 'View the permissions of ') + role.name));
      if (!role.builtin && CAN.update) {
        actions.appendChild(button('Edit', 'button--secondary', function () { openForm(role); },
          'Edit ' + role.name));
      }
      if (!role.builtin && CAN.remove) {
        actions.appendChild(button('Delete', 'button--danger', function (b) { deleteRole(role, b); },
          'Delete ' + role.name));
      }
      var row = el('tr', { 'data-role': role.id, className: role.id === selectedId ? 'is-selected' : null }, [
        el('td', { 'data-label': 'Role' }, [el('div', null, [
          el('strong', { text: role.name }),
          role.description ? el('span', { className: 'muted small', text: role.description }) : null
        ])]),
        el('td', { 'data-label': 'Inherits from', text: parent ? parent.name : '—' }),
        el('td', { 'data-label': 'Type' }, [role.builtin
          ? el('span', { className: 'badge badge--builtin', text: 'Built-in' })
          : el('span', { className: 'badge badge--custom', text: 'Custom' })]),
        el('td', { 'data-label': 'People', text: String(role.user_count || 0) }),
        el('td', { 'data-label': 'Actions' }, [actions])
      ]);
      body.appendChild(row);
    });
    show($('roles-table'), roles.length > 0);
  }

  // Reads roles and the matrix; the list and (if a role is chosen) its grid are drawn again.
  function load(keepDraft) {
    return Promise.all([api('GET', '/api/roles'), api('GET', '/api/permissions/matrix')]).then(function (rs) {
      var bad = rs[0].ok ? (rs[1].ok ? null : rs[1]) : rs[0];
      if (bad) {
        setStatus('');
        message('roles-error', errorMessage(bad, 'The roles could not be loaded.'));
        return false;
      }
      roles = (rs[0].data && rs[0].data.roles) || [];
      matrix = rs[1].data || { resources: [], actions: [], roles: [] };
      message('roles-error', '');
      if ($('roles-status').textContent === 'Loading…') {
        var custom = roles.filter(function (r) { return !r.builtin; }).length;
        setStatus(roles.length + ' roles, ' + custom + ' of them the studio\u2019s own.');
      }
      renderList();
      if (selectedId && roleById(selectedId)) selectRole(selectedId, false, keepDraft);
      else if (selectedId) { selectedId = ''; remember(''); show($('matrix-card'), false); }
      return true;
    }, function () {
      setStatus('');
      message('roles-error', NETWORK);
      return false;
    });
  }

  /* ---- the role form ----------------------------------------------------- */

  var form = $('role-form');

  function clearFormErrors() {
    ui.clearFieldErrors(form);
    message('role-form-error', '');
  }

  function openForm(role) {
    editingId = role ? role.id : null;
    clearFormErrors();
    $('role-form-title').textContent = role ? 'Edit the role \u201c' + role.name + '\u201d' : 'New role';
    $('role-name').value = role ? role.name : '';
    $('role-description').value = role ? role.description || '' : '';
    var select = $('role-parent_id');
    while (select.options.length > 1) select.remove(1);
    roles.forEach(function (r) {
      if (role && r.id === role.id) return; // never its own parent; loops are the server's to refuse
      select.appendChild(el('option', { value: r.id, text: r.name + (r.builtin ? ' (built-in)' : '') }));
    });
    select.value = role && role.parent_id ? role.parent_id : '';
    $('role-save').textContent = role ? 'Save role' : 'Create role';
    show($('role-form-card'), true);
    $('role-form-title').focus();
  }

  function closeForm() {
    show($('role-form-card'), false);
    editingId = null;
  }

  function showFormErrors(r) {
    var e = errorOf(r);
    var fields = e.fields || {};
    var other = [], first = null;
    Object.keys(fields).forEach(function (name) {
      var out = $('role-' + name + '-error'), input = $('role-' + name);
      if (out && typeof fields[name] === 'string') {
        out.textContent = humanize(fields[name]);
        show(out, true);
        if (input) input.setAttribute('aria-invalid', 'true');
        first = first || input;
      } else if (typeof fields[name] === 'string') {
        other.push(label(name) + ': ' + humanize(fields[name]));
      }
    });
    if (e.code === 'role_cycle' && !fields.parent_id) {
      var p = $('role-parent_id-error');
      p.textContent = 'Choose another role: this one inherits from the role you are editing.';
      show(p, true);
      $('role-parent_id').setAttribute('aria-invalid', 'true');
      first = first || $('role-parent_id');
    }
    var text = first && !other.length && (e.code === 'invalid_input' || e.code === 'role_name_taken')
      ? 'Not saved: check the fields marked below.' : errorMessage(r, 'Check the form.');
    message('role-form-error', text + (other.length ? ' ' + other.join(' ') : ''));
    (first || $('role-form-error')).focus();
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    clearFormErrors();
    var name = $('role-name').value.trim();
    if (!name) {
      var out = $('role-name-error');
      out.textContent = 'Give the role a name.';
      show(out, true);
      $('role-name').setAttribute('aria-invalid', 'true');
      $('role-name').focus();
      return;
    }
    var body = { name: name, description: $('role-description').value.trim(),
      parent_id: $('role-parent_id').value || null };
    var id = editingId;
    var save = $('role-save');
    save.disabled = true;
    api(id ? 'PUT' : 'POST', id ? '/api/roles/' + encodeURIComponent(id) : '/api/roles', body).then(function (r) {
      save.disabled = false;
      if (!r.ok) { showFormErrors(r); return; }
      var made = r.data || {};
      closeForm();
      setStatus(id ? 'The role \u201c' + name + '\u201d was saved.'
        : 'The role \u201c' + name + '\u201d was created. Tick its own permissions below.');
      if (!id && made.id) { selectedId = made.id; remember(made.id); }
      load(!!id).then(function () {
        if (!id && made.id && roleById(made.id)) $('matrix-title').focus();
        else $('roles-status').focus();
      });
    }, function () {
      save.disabled = false;
      message('role-form-error', NETWORK);
    });
  });

  $('role-cancel').addEventListener('click', function () {
    closeForm();
    $('role-new').focus();
  });

  var newButton = $('role-new');
  show(newButton, CAN.create);
  newButton.addEventListener('click', function () { openForm(null); });

  function deleteRole(role, b) {
    var who = role.user_count ? ' ' + role.user_count + (role.user_count === 1 ? ' person holds' : ' people hold') +
      ' it and will lose it.' : '';
    if (!window.confirm('Delete the role \u201c' + role.name + '\u201d?' + who)) return;
    b.disabled = true;
    message('roles-error', '');
    api('DELETE', '/api/roles/' + encodeURIComponent(role.id)).then(function (r) {
      b.disabled = false;
      if (!r.ok) {
        var e = errorOf(r);
        var heirs = e.fields && Array.isArray(e.fields.inherited_by)
          ? ' (' + e.fields.inherited_by.map(function (x) { return x.name; }).join(', ') + ')' : '';
        message('roles-error', errorMessage(r, 'The role could not be deleted.') + heirs);
        return;
      }
      if (selectedId === role.id) { selectedId = ''; draft = null; remember(''); show($('matrix-card'), false); }
      if (editingId === role.id) closeForm();
      load(true).then(function () {
        setStatus('The role \u201c' + role.name + '\u201d was deleted.');
        $('roles-status').focus();
      });
    }, function () {
      b.disabled = false;
      message('roles-error', NETWORK);
    });
  }

  /* ---- the permission grid ----------------------------------------------- */

  var builtFor = null; // resources/actions the grid's cells were made for

  // The grid's rows and cells, once: later changes only repaint them (focus stays).
  function buildGrid() {
    var resources = matrix.resources || [], actions = matrix.actions || [];
    var key = resources.join(',') + '|' + actions.join(',');
    if (builtFor === key) return;
    builtFor = key;
    var head = $('matrix-head');
    head.textContent = '';
    head.appendChild(el('th', { scope: 'col', text: 'Resource' }));
    actions.forEach(function (a) { head.appendChild(el('th', { scope: 'col', text: label(a) })); });
    var body = $('matrix-body');
    body.textContent = '';
    resources.forEach(function (res) {
      var tr = el('tr', null, [el('th', { scope: 'row', text: label(res) })]);
      actions.forEach(function (a) {
        var id = 'perm-' + res + '-' + a;
        var box = el('input', { type: 'checkbox', id: id, 'data-resource': res, 'data-action': a });
        box.addEventListener('change', function () {
          if (!draft) return;
          draft[res + ':' + a] = box.checked;
          if (!box.checked) delete draft[res + ':' + a];
          $('matrix-saved').textContent = '';
          paintGrid();
        });
        tr.appendChild(el('td', null, [el('label', { 'for': id, className: 'perm' }, [
          box,
          el('span', { className: 'visually-hidden', text: label(res) + ': ' + a }),
          ' ',
          el('span', { className: 'perm-mark' })
        ])]));
      });
      body.appendChild(tr);
    });
  }

  // What the chosen role gets from above: {"resource:action": true}.
  function inheritedSet(role) {
    var set = {};
    var parent = role.parent_id ? matrixRow(role.parent_id) : null;
    var own = matrixRow(role.id);
    (matrix.resources || []).forEach(function (res) {
      (matrix.actions || []).forEach(function (a) {
        var k = res + ':' + a;
        if (parent) {
          if (parent.permissions && parent.permissions[res] && parent.permissions[res][a]) set[k] = true;
        } else if (own && own.permissions && own.permissions[res] && own.permissions[res][a] === 'inherited') {
          set[k] = true;
        }
      });
    });
    return set;
  }

  function paintGrid() {
    var role = roleById(selectedId);
    if (!role || !draft) return;
    var canEdit = editable(role);
    var inherited = inheritedSet(role);
    Array.prototype.forEach.call($('matrix-body').querySelectorAll('input[type="checkbox"]'), function (box) {
      var res = box.getAttribute('data-resource'), a = box.getAttribute('data-action');
      var k = res + ':' + a;
      var own = !!draft[k];
      var viaManage = a !== 'manage' && !!draft[res + ':manage'];
      var mark = box.parentNode.querySelector('.perm-mark');
      var state, text = '';
      if (own) {
        state = 'own';
        if (inherited[k]) text = 'also inherited';
      } else if (inherited[k]) {
        state = 'inherited';
        text = 'inherited';
      } else if (viaManage) {
        state = 'implied';
        text = 'with manage';
      } else {
        state = 'none';
      }
      box.checked = state !== 'none';
      box.disabled = !canEdit || state === 'inherited' || state === 'implied';
      mark.textContent = text;
      mark.className = 'perm-mark' + (text ? ' perm-mark--' + (state === 'implied' ? 'implied' : 'inherited') : '');
      box.parentNode.parentNode.className = 'perm-cell perm-cell--' + state;
    });
    var isDirty = dirty();
    $('matrix-save').disabled = !isDirty;
    $('matrix-reset').disabled = !isDirty;
  }

  // Shows the grid of role id; moveFocus after a click on its button; keepDraft after a reload.
  function selectRole(id, moveFocus, keepDraft) {
    var role = roleById(id);
    if (!role) return;
    if (moveFocus && id !== selectedId && dirty() &&
        !window.confirm('Leave the unsaved permission changes of \u201c' + (roleById(selectedId) || {}).name + '\u201d?')) {
      return;
    }
    var changed = id !== selectedId;
    selectedId = id;
    remember(id);
    if (changed || !keepDraft || !draft) draft = ownSet(role);
    Array.prototype.forEach.call($('roles-body').querySelectorAll('tr'), function (tr) {
      tr.className = tr.getAttribute('data-role') === id ? 'is-selected' : '';
    });
    var parent = role.parent_id ? roleById(role.parent_id) : null;
    $('matrix-title').textContent = 'Permissions of \u201c' + role.name + '\u201d';
    $('matrix-caption').textContent = 'Permissions of ' + role.name + ' by resource and action';
    var intro;
    if (role.builtin) {
      intro = 'A built-in role: it cannot be changed. To change what people can do, make a role of your own that inherits from it.';
    } else if (!CAN.update) {
      intro = 'You may look at this role but not change it (you need the roles:update permission).';
    } else {
      intro = 'Tick what this role may do itself' + (parent ? '; what it inherits from \u201c' + parent.name +
        '\u201d is ticked and greyed' : '') + '. \u201cManage\u201d includes every other action on its line. ' +
        'You can only grant permissions you hold yourself.';
    }
    $('matrix-intro').textContent = intro;
    show($('matrix-save'), editable(role));
    show($('matrix-reset'), editable(role));
    if (changed) { message('matrix-error', ''); $('matrix-saved').textContent = ''; }
    buildGrid();
    paintGrid();
    show($('matrix-card'), true);
    if (moveFocus) $('matrix-title').focus();
  }

  $('matrix-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var role = roleById(selectedId);
    if (!role || !draft || !editable(role)) return;
    var permissions = Object.keys(draft).filter(function (k) { return draft[k]; }).map(function (k) {
      var i = k.indexOf(':');
      return { resource: k.slice(0, i), action: k.slice(i + 1) };
    });
    var save = $('matrix-save');
    save.disabled = true;
    message('matrix-error', '');
    $('matrix-saved').textContent = '';
    api('PUT', '/api/roles/' + encodeURIComponent(role.id), { permissions: permissions }).then(function (r) {
      if (!r.ok) {
        save.disabled = false;
        var e = errorOf(r);
        var extra = '';
        if (e.code === 'privilege_escalation' && e.fields && typeof e.fields.permissions === 'string') {
          extra = ' You do not hold: ' + e.fields.permissions + '.';
        } else if (e.fields) {
          extra = Object.keys(e.fields).filter(function (k) { return typeof e.fields[k] === 'string'; })
            .map(function (k) { return ' ' + label(k) + ': ' + humanize(e.fields[k]); }).join('');
        }
        message('matrix-error', errorMessage(r, 'The permissions could not be saved.') + extra);
        return;
      }
      load(false).then(function () {
        $('matrix-saved').textContent = 'Saved: \u201c' + role.name + '\u201d now has ' + permissions.length +
          (permissions.length === 1 ? ' permission' : ' permissions') + ' of its own.';
      });
    }, function () {
      save.disabled = false;
      message('matrix-error', NETWORK);
    });
  });

  $('matrix-reset').addEventListener('click', function () {
    var role = roleById(selectedId);
    if (!role) return;
    draft = ownSet(role);
    message('matrix-error', '');
    paintGrid();
  });

  window.addEventListener('beforeunload', function (ev) {
    if (!dirty()) return;
    ev.preventDefault();
    ev.returnValue = '';
  });

  load(false);
})();
