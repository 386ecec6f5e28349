/*
 * signup_routes.c — HTTP for new studios:
 *   GET  /api/signup/check-slug?slug=   is an address free?
 *   GET  /signup                        the form
 *   POST /signup                        JSON (201) or the form (303 to success)
 *   GET  /signup/success?slug=          where the new studio lives
 */
#include <string.h>

#include "studiod/db.h"
#include "studiod/signup.h"
#include "studiod/tenant.h"

static void check_slug(struct request *req);
static void signup_form(struct request *req);
static void signup_post(struct request *req);
static void signup_success(struct request *req);
static const char *str_field(json_t *o, const char *key);
static json_t *form_context(json_t *body, json_t *fields, const char *message);

const struct route signup_routes[] = {
    {"GET", "/api/signup/check-slug", check_slug, TENANT_NONE, AUTH_PUBLIC, NULL, NULL, 0},
    {"GET", "/signup", signup_form, TENANT_NONE, AUTH_PUBLIC, NULL, NULL, 0},
    {"POST", "/signup", signup_post, TENANT_NONE, AUTH_PUBLIC, NULL, NULL, 0},
    {"GET", "/signup/success", signup_success, TENANT_NONE, AUTH_PUBLIC, NULL, NULL, 0},
    {0},
};

static void check_slug(struct request *req)
{
    const char *slug = http_query(req, "slug");
    if (!slug) {
        http_reply_error(req, 400, "missing_parameter", "Give ?slug=",
                         json_pack("{s:s}", "slug", "required"));
        return;
    }
    const char *problem = signup_slug_problem(slug);
    if (!problem) {
        struct db_conn *m = request_master_db(req);
        if (!m)
            return;
        int free_ = signup_slug_free(m, slug);
        if (free_ < 0) {
            http_reply_error(req, 503, "database_unavailable", "Try again shortly", NULL);
            return;
        }
        if (!free_)
            problem = "taken";
    }
    http_reply_json(req, 200,
                    json_pack("{s:s, s:b, s:s?}", "slug", slug, "available", problem == NULL,
                              "reason", problem));
}

static const char *str_field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The signup page context, keeping what the person typed (never the password). */
static json_t *form_context(json_t *body, json_t *fields, const char *message)
{
    json_t *ctx = json_pack("{s:s, s:s}", "title", "Start your studio", "default_timezone",
                            "Europe/Paris");
    json_t *values = json_object();
    const char *keep[] = {"studio_name", "slug", "owner_name", "owner_email", "timezone",
                          "currency"};
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        const char *v = body ? str_field(body, keep[i]) : NULL;
        json_object_set_new(values, keep[i], json_string(v ? v : ""));
    }
    if (!body) {
        json_object_set_new(values, "timezone", json_string("Europe/Paris"));
        json_object_set_new(values, "currency", json_string("EUR"));
    }
    json_object_set_new(ctx, "values", values);
    if (fields)
        json_object_set(ctx, "errors", fields);
    if (message)
        json_object_set_new(ctx, "error", json_string(message));
    return ctx;
}

static void signup_form(struct request *req)
{
    http_reply_page(req, 200, "signup", form_context(NULL, NULL, NULL));
}

static void signup_post(struct request *req)
{
    json_t *body = http_body_object(req);
    if (!body)
        return;
    bool html = http_body_is_form(req);
    struct signup_input in = {
        .studio_name = str_field(body, "studio_name"),
        .slug = str_field(body, "slug"),
        .owner_name = str_field(body, "owner_name"),
        .owner_email = str_field(body, "owner_email"),
        .password = str_field(body, "password"),
        .timezone = str_field(body, "timezone"),
        .currency = str_field(body, "currency"),
    };
    json_t *fields = signup_validate(&in);
    if (fields) {
        if (html) {
            http_reply_page(req, 422, "signup",
                            form_context(body, fields, "Please correct the marked fields"));
            json_decref(fields);
        } else {
            http_reply_error(req, 422, "invalid_input", "Some fields are not valid", fields);
        }
        return;
    }
    const char *studio_url = http_studio_url(req, in.slug);
    struct signup_result res;
    memset(&res, 0, sizeof(res));
    switch (signup_provision(req->arena, &in, studio_url, &res)) {
    case SIGNUP_OK:
        break;
    case SIGNUP_SLUG_TAKEN: {
        json_t *f = json_pack("{s:s}", "slug", "This address is already taken");
        if (html) {
            http_reply_page(req, 409, "signup", form_context(body, f, "That address is taken"));
            json_decref(f);
        } else {
            http_reply_error(req, 409, "slug_taken", "This address is already taken", f);
        }
        return;
    }
    case SIGNUP_DB_DOWN:
        http_reply_error(req, 503, "database_unavailable", "Try again shortly", NULL);
        return;
    default:
        http_reply_error(req, 500, "provisioning_failed",
                         "The studio could not be created; nothing was kept. Try again.", NULL);
        return;
    }
    if (html) {
        http_reply_redirect(req, 303,
                            arena_printf(req->arena, "/signup/success?slug=%s", in.slug));
        return;
    }
    json_t *org = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", res.org_id, "slug",
                            in.slug, "name", in.studio_name, "status", res.status, "timezone",
                            in.timezone, "currency", in.currency, "trial_ends_at",
                            res.trial_ends_at);
    http_reply_json(req, 201,
                    json_pack("{s:o, s:s, s:s}", "organization", org, "studio_url", studio_url,
                              "trial_ends_at", res.trial_ends_at));
}

static void signup_success(struct request *req)
{
    const char *slug = http_query(req, "slug");
    struct tenant t;
    struct db_conn *m = request_master_db(req);
    if (!m)
        return;
    if (!slug || signup_slug_problem(slug) || tenant_load(m, slug, &t) != 0 ||
        !tenant_is_live(&t)) {
        http_reply_error(req, 404, "not_found", "No such studio", NULL);
        return;
    }
    http_reply_page(req, 200, "signup_success",
                    json_pack("{s:s, s:{s:s, s:s, s:s}, s:s}", "title", "Your studio is ready",
                              "new_studio", "name", t.name, "slug", t.slug, "trial_ends_at",
                              t.trial_ends_at, "studio_url", http_studio_url(req, slug)));
}
