-- Role-based access control: what each role may do (roles and user_roles are
-- in 0001_staff.sql).
--
-- A permission is resource:action. The lists below are the catalogue of
-- src/modules/rbac/rbac.c (rbac_resources, rbac_actions): change both
-- together. "manage" on a resource implies every action on it, so a role
-- that may do everything on a resource holds just resource:manage.
--
-- Cycles in roles.parent_id are refused by the application, under the
-- advisory lock every role change takes (rbac_lock); the queries that walk
-- the hierarchy use UNION, so even a cycle could never make them loop.

CREATE TABLE role_permissions (
    role_id uuid NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    resource text NOT NULL CHECK (resource IN (
        'bookings', 'sessions', 'rooms', 'customers', 'payments', 'reports', 'staff',
        'roles', 'audit', 'settings', 'billing', 'themes', 'ai', 'domains')),
    action text NOT NULL CHECK (action IN (
        'view', 'create', 'update', 'delete', 'export', 'manage')),
    PRIMARY KEY (role_id, resource, action)
);

-- Role names are unique whatever their case ("Front desk" is "front desk").
CREATE UNIQUE INDEX roles_name_ci ON roles (lower(name));
ALTER TABLE roles ADD CONSTRAINT roles_not_own_parent CHECK (parent_id <> id);
CREATE INDEX roles_parent ON roles (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX user_roles_role ON user_roles (role_id);
CREATE INDEX user_roles_expiring ON user_roles (expires_at) WHERE expires_at IS NOT NULL;

-- The built-in roles' permissions.
--
-- owner       manage on everything.
-- manager     manage on everything except: billing and domains (every action
--             but manage), roles and staff (view, create, update, export: no
--             delete, hence no manage), and audit (view, export: the log is
--             evidence, and its cleanup is the owners' alone). So only an
--             owner (or a role an owner made) can delete staff or roles,
--             assign roles (staff:manage), clean up the audit log, or manage
--             the subscription and the studio's domains.
-- engineer    sessions view/update; bookings, rooms, customers view.
-- front desk  bookings and customers view/create/update; sessions, rooms view.
-- viewer      view on bookings, sessions, rooms, customers.
INSERT INTO role_permissions (role_id, resource, action)
SELECT r.id, g.resource, g.action
  FROM roles r
  JOIN (VALUES
        ('owner', 'bookings', 'manage'), ('owner', 'sessions', 'manage'),
        ('owner', 'rooms', 'manage'), ('owner', 'customers', 'manage'),
        ('owner', 'payments', 'manage'), ('owner', 'reports', 'manage'),
        ('owner', 'staff', 'manage'), ('owner', 'roles', 'manage'),
        ('owner', 'audit', 'manage'), ('owner', 'settings', 'manage'),
        ('owner', 'billing', 'manage'), ('owner', 'themes', 'manage'),
        ('owner', 'ai', 'manage'), ('owner', 'domains', 'manage'),

        ('manager', 'bookings', 'manage'), ('manager', 'sessions', 'manage'),
        ('manager', 'rooms', 'manage'), ('manager', 'customers', 'manage'),
        ('manager', 'payments', 'manage'), ('manager', 'reports', 'manage'),
        ('manager', 'audit', 'view'), ('manager', 'audit', 'export'),
        ('manager', 'settings', 'manage'),
        ('manager', 'themes', 'manage'), ('manager', 'ai', 'manage'),
        ('manager', 'billing', 'view'), ('manager', 'billing', 'create'),
        ('manager', 'billing', 'update'), ('manager', 'billing', 'delete'),
        ('manager', 'billing', 'export'),
        ('manager', 'domains', 'view'), ('manager', 'domains', 'create'),
        ('manager', 'domains', 'update'), ('manager', 'domains', 'delete'),
        ('manager', 'domains', 'export'),
        ('manager', 'roles', 'view'), ('manager', 'roles', 'create'),
        ('manager', 'roles', 'update'), ('manager', 'roles', 'export'),
        ('manager', 'staff', 'view'), ('manager', 'staff', 'create'),
        ('manager', 'staff', 'update'), ('manager', 'staff', 'export'),

        ('engineer', 'sessions', 'view'), ('engineer', 'sessions', 'update'),
        ('engineer', 'bookings', 'view'), ('engineer', 'rooms', 'view'),
        ('engineer', 'customers', 'view'),

        ('front desk', 'bookings', 'view'), ('front desk', 'bookings', 'create'),
        ('front desk', 'bookings', 'update'),
        ('front desk', 'customers', 'view'), ('front desk', 'customers', 'create'),
        ('front desk', 'customers', 'update'),
        ('front desk', 'sessions', 'view'), ('front desk', 'rooms', 'view'),

        ('viewer', 'bookings', 'view'), ('viewer', 'sessions', 'view'),
        ('viewer', 'rooms', 'view'), ('viewer', 'customers', 'view')
       ) AS g (role, resource, action) ON g.role = r.name
 WHERE r.builtin;
