/*
 * test_rbac.c — the pure part of RBAC (include/studiod/rbac.h): the
 * catalogue, permission sets ("manage" implies every action on its
 * resource, and only "manage" covers "manage"), inheritance through a role
 * graph held in memory (three levels, a diamond of two roles sharing an
 * ancestor), and cycle detection (a role made its own parent, or the parent
 * of its parent, or of its grandparent, is refused; an already cyclic graph
 * still resolves in bounded time).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "studiod/rbac.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static int res(const char *name);
static int act(const char *name);
static void grant(struct rbac_perms *p, const char *resource, const char *action);
static bool allows(const struct rbac_perms *p, const char *resource, const char *action);
static size_t count_allowed(const struct rbac_perms *p);

static int res(const char *name)
{
    int i = rbac_resource_index(name);
    if (i < 0)
        fail_msg("no resource %s", name);
    return i;
}

static int act(const char *name)
{
    int i = rbac_action_index(name);
    if (i < 0)
        fail_msg("no action %s", name);
    return i;
}

static void grant(struct rbac_perms *p, const char *resource, const char *action)
{
    rbac_perms_grant(p, res(resource), act(action));
}

static bool allows(const struct rbac_perms *p, const char *resource, const char *action)
{
    return rbac_perms_allows(p, res(resource), act(action));
}

/* How many resource:action pairs p allows, manage expanded. */
static size_t count_allowed(const struct rbac_perms *p)
{
    json_t *list = rbac_perms_json(p, true);
    size_t n = json_array_size(list);
    json_decref(list);
    return n;
}

/* ---- the catalogue ------------------------------------------------------------------------ */

static void test_catalogue_has_the_fourteen_resources_and_six_actions(void **state)
{
    (void)state;
    static const char *const resources[] = {
        "bookings", "sessions", "rooms",    "customers", "payments", "reports", "staff",
        "roles",    "audit",    "settings", "billing",   "themes",   "ai",      "domains"};
    static const char *const actions[] = {"view", "create", "update", "delete", "export", "manage"};
    assert_int_equal(NELEMS(resources), RBAC_NRESOURCES);
    for (size_t i = 0; i < NELEMS(resources); i++)
        assert_int_equal(rbac_resource_index(resources[i]), (int)i);
    for (size_t i = 0; i < NELEMS(actions); i++)
        assert_int_equal(rbac_action_index(actions[i]), (int)i);
    assert_int_equal(rbac_action_index("manage"), RBAC_MANAGE);
    assert_int_equal(rbac_resource_index("Bookings"), -1);
    assert_int_equal(rbac_resource_index("book"), -1);
    assert_int_equal(rbac_resource_index(""), -1);
    assert_int_equal(rbac_resource_index(NULL), -1);
    assert_int_equal(rbac_action_index("read"), -1);
    assert_int_equal(rbac_action_index(NULL), -1);
}

/* ---- permission sets ---------------------------------------------------------------------- */

static void test_manage_implies_every_action_on_its_resource_and_no_other(void **state)
{
    (void)state;
    struct rbac_perms p = {0};
    grant(&p, "rooms", "manage");
    for (int a = 0; a < RBAC_NACTIONS; a++)
        assert_true(rbac_perms_allows(&p, res("rooms"), a));
    for (int r = 0; r < RBAC_NRESOURCES; r++)
        if (r != res("rooms"))
            for (int a = 0; a < RBAC_NACTIONS; a++)
                assert_false(rbac_perms_allows(&p, r, a));
    assert_int_equal(count_allowed(&p), RBAC_NACTIONS);
}

static void test_an_action_implies_nothing_but_itself(void **state)
{
    (void)state;
    struct rbac_perms p = {0};
    grant(&p, "bookings", "update");
    assert_true(allows(&p, "bookings", "update"));
    assert_false(allows(&p, "bookings", "view"));
    assert_false(allows(&p, "bookings", "delete"));
    assert_false(allows(&p, "bookings", "manage"));
    assert_false(allows(&p, "customers", "update"));
    /* out-of-range indexes grant and allow nothing */
    rbac_perms_grant(&p, RBAC_NRESOURCES, 0);
    rbac_perms_grant(&p, -1, 0);
    rbac_perms_grant(&p, 0, RBAC_NACTIONS);
    assert_false(rbac_perms_allows(&p, RBAC_NRESOURCES, 0));
    assert_false(rbac_perms_allows(&p, 0, -1));
    assert_int_equal(count_allowed(&p), 1);
}

static void test_only_manage_covers_manage_and_missing_names_the_gap(void **state)
{
    (void)state;
    struct rbac_perms holder = {0}, wanted = {0}, missing;
    for (int a = 0; a < RBAC_MANAGE; a++)
        rbac_perms_grant(&holder, res("staff"), a); /* every action but manage */
    grant(&holder, "bookings", "manage");

    grant(&wanted, "staff", "delete");
    grant(&wanted, "bookings", "export"); /* implied by the holder's manage */
    assert_true(rbac_perms_covers(&holder, &wanted, &missing));
    assert_true(rbac_perms_empty(&missing));

    grant(&wanted, "staff", "manage");
    grant(&wanted, "billing", "view");
    assert_false(rbac_perms_covers(&holder, &wanted, &missing));
    assert_true(allows(&missing, "staff", "manage"));
    assert_true(allows(&missing, "billing", "view"));
    assert_false(allows(&missing, "bookings", "export"));
    char text[128];
    rbac_perms_format(&missing, text, sizeof(text));
    assert_string_equal(text, "staff:manage, billing:view");
    assert_false(rbac_perms_covers(&holder, &wanted, NULL));

    struct rbac_perms empty = {0};
    assert_true(rbac_perms_covers(&empty, &empty, NULL));
    assert_true(rbac_perms_covers(&holder, &empty, NULL));
}

static void test_perms_json_lists_as_granted_or_expanded(void **state)
{
    (void)state;
    struct rbac_perms p = {0};
    grant(&p, "ai", "manage");
    grant(&p, "bookings", "view");
    json_t *granted = rbac_perms_json(&p, false);
    assert_int_equal(json_array_size(granted), 2);
    json_t *first = json_array_get(granted, 0);
    assert_string_equal(json_string_value(json_object_get(first, "resource")), "bookings");
    assert_string_equal(json_string_value(json_object_get(first, "action")), "view");
    json_decref(granted);
    json_t *expanded = rbac_perms_json(&p, true);
    assert_int_equal(json_array_size(expanded), 1 + RBAC_NACTIONS);
    json_decref(expanded);

    char tiny[8];
    rbac_perms_format(&p, tiny, sizeof(tiny)); /* truncated, still a string */
    assert_true(strlen(tiny) < sizeof(tiny));
}

/* ---- inheritance -------------------------------------------------------------------------- */

static void test_inheritance_through_three_levels(void **state)
{
    (void)state;
    /* base ← desk ← lead ← head */
    struct rbac_role roles[] = {
        {.id = "head", .parent_id = "lead"},
        {.id = "lead", .parent_id = "desk"},
        {.id = "desk", .parent_id = "base"},
        {.id = "base", .parent_id = NULL},
    };
    grant(&roles[3].own, "rooms", "view");
    grant(&roles[2].own, "bookings", "create");
    grant(&roles[1].own, "customers", "manage");
    grant(&roles[0].own, "reports", "export");
    struct rbac_graph g = {roles, NELEMS(roles)};

    struct rbac_perms p;
    assert_int_equal(rbac_resolve(&g, "head", &p), 0);
    assert_true(allows(&p, "rooms", "view"));
    assert_true(allows(&p, "bookings", "create"));
    assert_true(allows(&p, "customers", "delete")); /* manage, two levels up */
    assert_true(allows(&p, "reports", "export"));
    assert_false(allows(&p, "rooms", "update"));
    assert_int_equal(count_allowed(&p), 3 + RBAC_NACTIONS);

    /* what head inherits excludes its own */
    assert_int_equal(rbac_inherited(&g, "head", &p), 0);
    assert_false(allows(&p, "reports", "export"));
    assert_true(allows(&p, "rooms", "view"));

    /* nothing flows down */
    assert_int_equal(rbac_resolve(&g, "desk", &p), 0);
    assert_true(allows(&p, "rooms", "view"));
    assert_true(allows(&p, "bookings", "create"));
    assert_false(allows(&p, "customers", "view"));
    assert_false(allows(&p, "reports", "export"));

    assert_int_equal(rbac_resolve(&g, "base", &p), 0);
    assert_int_equal(count_allowed(&p), 1);
    assert_int_equal(rbac_inherited(&g, "base", &p), 0);
    assert_true(rbac_perms_empty(&p));
}

static void test_diamond_two_roles_sharing_an_ancestor(void **state)
{
    (void)state;
    /*      top
     *     /   \
     *  left   right      a user holding left and right holds top's once */
    struct rbac_role roles[] = {
        {.id = "top", .parent_id = NULL},
        {.id = "left", .parent_id = "top"},
        {.id = "right", .parent_id = "top"},
    };
    grant(&roles[0].own, "sessions", "view");
    grant(&roles[1].own, "bookings", "update");
    grant(&roles[2].own, "rooms", "create");
    struct rbac_graph g = {roles, NELEMS(roles)};

    struct rbac_perms left, right, user = {0};
    assert_int_equal(rbac_resolve(&g, "left", &left), 0);
    assert_int_equal(rbac_resolve(&g, "right", &right), 0);
    assert_true(allows(&left, "sessions", "view"));
    assert_true(allows(&right, "sessions", "view"));
    assert_false(allows(&left, "rooms", "create"));
    assert_false(allows(&right, "bookings", "update"));
    rbac_perms_union(&user, &left);
    rbac_perms_union(&user, &right);
    assert_int_equal(count_allowed(&user), 3);

    /* siblings may inherit from each other: no cycle */
    assert_false(rbac_would_cycle(&g, "right", "left"));
    assert_false(rbac_would_cycle(&g, "left", "right"));
    roles[2].parent_id = "left"; /* top ← left ← right */
    assert_int_equal(rbac_resolve(&g, "right", &right), 0);
    assert_true(allows(&right, "bookings", "update"));
    assert_true(allows(&right, "sessions", "view"));
    /* ... but now left under right would close one */
    assert_true(rbac_would_cycle(&g, "left", "right"));
}

static void test_unknown_role_and_broken_parent(void **state)
{
    (void)state;
    struct rbac_role roles[] = {
        {.id = "orphan", .parent_id = "gone"},
        {.id = "fine", .parent_id = NULL},
    };
    grant(&roles[0].own, "ai", "view");
    struct rbac_graph g = {roles, NELEMS(roles)};
    struct rbac_perms p;
    assert_int_equal(rbac_resolve(&g, "nobody", &p), -1);
    assert_true(rbac_perms_empty(&p));
    assert_int_equal(rbac_resolve(&g, "orphan", &p), -2);
    assert_true(allows(&p, "ai", "view")); /* its own still counted */
    assert_null(rbac_graph_find(&g, "gone"));
    assert_null(rbac_graph_find(&g, NULL));
    assert_ptr_equal(rbac_graph_find(&g, "fine"), &roles[1]);
    /* a parent that does not exist is refused by the cycle check too */
    assert_true(rbac_would_cycle(&g, "fine", "gone"));
    assert_true(rbac_would_cycle(&g, "fine", "orphan"));
}

/* ---- cycles ------------------------------------------------------------------------------- */

static void test_cycles_of_length_one_to_three_are_refused(void **state)
{
    (void)state;
    /* a ← b ← c, and d apart */
    struct rbac_role roles[] = {
        {.id = "a", .parent_id = NULL},
        {.id = "b", .parent_id = "a"},
        {.id = "c", .parent_id = "b"},
        {.id = "d", .parent_id = NULL},
    };
    struct rbac_graph g = {roles, NELEMS(roles)};

    /* length 1: a role its own parent */
    assert_true(rbac_would_cycle(&g, "a", "a"));
    assert_true(rbac_would_cycle(&g, "d", "d"));
    /* length 2: a under its child */
    assert_true(rbac_would_cycle(&g, "a", "b"));
    assert_true(rbac_would_cycle(&g, "b", "c"));
    /* length 3: a under its grandchild */
    assert_true(rbac_would_cycle(&g, "a", "c"));

    /* no cycle: downwards, sideways, none at all */
    assert_false(rbac_would_cycle(&g, "c", "a"));
    assert_false(rbac_would_cycle(&g, "c", "b"));
    assert_false(rbac_would_cycle(&g, "a", "d"));
    assert_false(rbac_would_cycle(&g, "d", "c"));
    assert_false(rbac_would_cycle(&g, "a", NULL));
}

static void test_an_already_cyclic_graph_resolves_in_bounded_time(void **state)
{
    (void)state;
    /* x → y → z → x (a state the module never stores, but must survive) */
    struct rbac_role roles[] = {
        {.id = "x", .parent_id = "y"},
        {.id = "y", .parent_id = "z"},
        {.id = "z", .parent_id = "x"},
        {.id = "w", .parent_id = "x"},
    };
    grant(&roles[0].own, "rooms", "view");
    grant(&roles[1].own, "bookings", "view");
    grant(&roles[2].own, "customers", "view");
    struct rbac_graph g = {roles, NELEMS(roles)};
    struct rbac_perms p;
    assert_int_equal(rbac_resolve(&g, "x", &p), -2);
    assert_int_equal(rbac_resolve(&g, "w", &p), -2);
    assert_true(allows(&p, "customers", "view")); /* gathered before giving up */
    /* attaching anything under the loop is refused */
    roles[3].parent_id = NULL;
    assert_true(rbac_would_cycle(&g, "w", "x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalogue_has_the_fourteen_resources_and_six_actions),
        cmocka_unit_test(test_manage_implies_every_action_on_its_resource_and_no_other),
        cmocka_unit_test(test_an_action_implies_nothing_but_itself),
        cmocka_unit_test(test_only_manage_covers_manage_and_missing_names_the_gap),
        cmocka_unit_test(test_perms_json_lists_as_granted_or_expanded),
        cmocka_unit_test(test_inheritance_through_three_levels),
        cmocka_unit_test(test_diamond_two_roles_sharing_an_ancestor),
        cmocka_unit_test(test_unknown_role_and_broken_parent),
        cmocka_unit_test(test_cycles_of_length_one_to_three_are_refused),
        cmocka_unit_test(test_an_already_cyclic_graph_resolves_in_bounded_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
