/*
 * main.c — studiod's command line, and the one place that knows every
 * module: it hands their route tables to the server and their job kinds to
 * the runner.
 *
 *   studiod serve                 HTTP server (+ background jobs)
 *   studiod worker                background jobs only
 *   studiod migrate               master, tenant template, every tenant
 *   studiod tenant create ...     a studio from the command line
 *   studiod tenant list           every studio
 *   studiod tenant repair         clean up interrupted provisioning
 *   studiod admin create ...      a platform admin (prints the TOTP enrolment URI)
 *   studiod routes                every route (method, pattern, auth)
 */
#include <curl/curl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "studiod/admin.h"
#include "studiod/audit.h"
#include "studiod/auth.h"
#include "studiod/billing.h"
#include "studiod/booking.h"
#include "studiod/cache_bus.h"
#include "studiod/config.h"
#include "studiod/credits.h"
#include "studiod/crypto.h"
#include "studiod/db.h"
#include "studiod/jobs.h"
#include "studiod/log.h"
#include "studiod/mail.h"
#include "studiod/migrate.h"
#include "studiod/ops.h"
#include "studiod/payments.h"
#include "studiod/rbac.h"
#include "studiod/rooms.h"
#include "studiod/server.h"
#include "studiod/signup.h"
#include "studiod/site.h"
#include "studiod/staff.h"
#include "studiod/static.h"
#include "studiod/tenant.h"

#define DRAIN_SECONDS 20
#define EXIT_EXISTS 3

static const struct route_table route_tables[] = {
    {"ops", ops_routes},           {"site", site_routes},
    {"signup", signup_routes},     {"auth", auth_routes},
    {"static", static_routes},     {"booking_public", booking_public_routes},
    {"rooms", rooms_routes},       {"booking", booking_routes},
    {"audit", audit_routes},       {"rbac", rbac_routes},
    {"staff", staff_routes},       {"admin", admin_routes},
    {"payments", payments_routes}, {"billing", billing_routes},
    {"credits", credits_routes},   {NULL, NULL},
};

static int usage(FILE *out);
static int cmd_serve(bool http);
static int cmd_migrate(void);
static int cmd_tenant(int argc, char **argv);
static int cmd_routes(void);
static int cmd_admin(int argc, char **argv);
static void block_signals(sigset_t *set);

static int usage(FILE *out)
{
    fputs("usage: studiod <command> [options]\n\n"
          "Commands:\n"
          "  serve                 serve HTTP on STUDIOD_PORT and run background jobs\n"
          "  worker                run background jobs only\n"
          "  migrate               migrate the master database, the tenant template and\n"
          "                        every studio's database (idempotent)\n"
          "  tenant create --slug S --name N --owner-email E [--owner-name N]\n"
          "                [--password P] [--timezone TZ] [--currency C]\n"
          "                        create a studio (exit 3 when the slug exists)\n"
          "  tenant list           list studios\n"
          "  tenant repair [--older-than SECONDS]\n"
          "                        remove unfinished provisioning and orphan databases\n"
          "  admin create --email E [--name N] [--password P]\n"
          "                        create a platform admin; prints the TOTP enrolment\n"
          "                        otpauth:// URI (exit 3 when the e-mail exists)\n"
          "  routes                list every HTTP route\n"
          "  --help                this text\n\n",
          out);
    config_print_help(out);
    return out == stdout ? 0 : 2;
}

/* After a successful state-changing request, what every process cached of the studio may
 * be stale: its availability answers (any change on its host), and its staff sessions
 * when staff or a platform admin made it (a sign-out, a deactivation, a role change).
 * An admin's change reaches every studio. One NOTIFY for all (cache_bus.h). */
static void after_request(struct request *req)
{
    const char *m = req->method;
    bool unsafe = strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 && strcmp(m, "OPTIONS") != 0;
    if (!unsafe || req->status >= 400 || !req->route)
        return;
    static const char staff[] = {CACHE_BUS_STAFF_CHANGE, CACHE_BUS_ANY_CHANGE, '\0'};
    static const char any[] = {CACHE_BUS_ANY_CHANGE, '\0'};
    if (req->route->auth == AUTH_ADMIN)
        cache_bus_publish(staff, NULL);
    else if (req->tenant)
        cache_bus_publish(req->route->auth == AUTH_STAFF ? staff : any, req->tenant->id);
}

static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL); /* every thread started later inherits this */
    signal(SIGPIPE, SIG_IGN);
}

static int cmd_serve(bool http)
{
    sigset_t set;
    block_signals(&set);
    jobs_register(mail_job_kinds);
    jobs_register(booking_job_kinds);
    /* Only a process that can reach Stripe claims refund jobs: one without a key would
     * spend their attempts failing them. */
    if (payments_configured())
        jobs_register(payments_job_kinds);
    jobs_register(rbac_job_kinds);
    struct http_hooks hooks = {.load_session = auth_load_session,
                               .has_permission = rbac_has_permission,
                               .load_admin = admin_load_session,
                               .after = after_request};
    if (http && (auth_cache_start(g_config.session_cache_seconds) != 0 ||
                 rbac_cache_start(g_config.session_cache_seconds) != 0 ||
                 availability_cache_start(g_config.availability_cache_seconds) != 0 ||
                 cache_bus_start() != 0))
        return 1;
    if (http && server_start(route_tables, &hooks) != 0)
        return 1;
    if ((!http || g_config.run_jobs) && jobs_start() != 0) {
        server_stop(0);
        return 1;
    }
    int sig = 0;
    sigwait(&set, &sig);
    log_msg(LOG_INFO, "signal %d: draining", sig);
    if (http)
        server_stop(DRAIN_SECONDS);
    cache_bus_stop();
    auth_cache_stop();
    rbac_cache_stop();
    availability_cache_stop();
    jobs_stop();
    db_shutdown();
    log_msg(LOG_INFO, "stopped");
    return 0;
}

static int cmd_migrate(void)
{
    if (migrate_all() != 0) {
        fputs("studiod: migration failed (see the log above)\n", stderr);
        return 1;
    }
    fputs("studiod: migrations up to date\n", stderr);
    return 0;
}

static int cmd_tenant(int argc, char **argv)
{
    if (argc < 1)
        return usage(stderr);
    const char *sub = argv[0];
    if (strcmp(sub, "list") == 0) {
        struct db_conn *m = db_acquire_master();
        PGresult *r = m ? db_exec(m,
                                  "SELECT slug, status, name, db_name, timezone, currency,"
                                  " coalesce(trial_ends_at::text, '-') AS trial_ends_at"
                                  " FROM organizations ORDER BY slug",
                                  0, NULL, NULL)
                        : NULL;
        if (!r) {
            db_release(m);
            return 1;
        }
        printf("%-24s %-13s %-28s %-20s %s\n", "SLUG", "STATUS", "NAME", "TIMEZONE", "TRIAL ENDS");
        for (int i = 0; i < PQntuples(r); i++)
            printf("%-24s %-13s %-28s %-20s %s\n", db_get(r, i, "slug"), db_get(r, i, "status"),
                   db_get(r, i, "name"), db_get(r, i, "timezone"), db_get(r, i, "trial_ends_at"));
        PQclear(r);
        db_release(m);
        return 0;
    }
    if (strcmp(sub, "repair") == 0) {
        int older = 120;
        if (argc >= 3 && strcmp(argv[1], "--older-than") == 0)
            older = atoi(argv[2]);
        int n = signup_repair(older);
        if (n < 0)
            return 1;
        printf("repaired %d\n", n);
        return 0;
    }
    if (strcmp(sub, "create") != 0)
        return usage(stderr);

    static const struct option opts[] = {
        {"slug", required_argument, 0, 's'},        {"name", required_argument, 0, 'n'},
        {"owner-email", required_argument, 0, 'e'}, {"owner-name", required_argument, 0, 'o'},
        {"password", required_argument, 0, 'p'},    {"timezone", required_argument, 0, 't'},
        {"currency", required_argument, 0, 'c'},    {0, 0, 0, 0},
    };
    struct arena *a = arena_new(4096);
    struct signup_input in = {.owner_name = "Owner", .timezone = "Europe/Paris", .currency = "EUR"};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            in.slug = optarg;
            break;
        case 'n':
            in.studio_name = optarg;
            break;
        case 'e':
            in.owner_email = optarg;
            break;
        case 'o':
            in.owner_name = optarg;
            break;
        case 'p':
            in.password = optarg;
            break;
        case 't':
            in.timezone = optarg;
            break;
        case 'c':
            in.currency = optarg;
            break;
        default:
            arena_free(a);
            return usage(stderr);
        }
    }
    bool generated = false;
    if (!in.password) {
        in.password = crypto_token(a, 12);
        generated = true;
    }
    json_t *fields = signup_validate(&in);
    if (fields) {
        char *s = json_dumps(fields, JSON_INDENT(2));
        fprintf(stderr, "studiod: invalid studio:\n%s\n", s);
        free(s);
        json_decref(fields);
        arena_free(a);
        return 2;
    }
    char *url = arena_printf(a, "%s://%s.%s:%d", g_config.public_scheme, in.slug,
                             g_config.base_domain, g_config.port);
    struct signup_result res;
    int rc = signup_provision(a, &in, url, &res);
    if (rc == SIGNUP_SLUG_TAKEN) {
        fprintf(stderr, "studiod: a studio %s already exists\n", in.slug);
        arena_free(a);
        return EXIT_EXISTS;
    }
    if (rc != SIGNUP_OK) {
        fprintf(stderr, "studiod: could not create the studio (see the log above)\n");
        arena_free(a);
        return 1;
    }
    printf("studio:   %s\nurl:      %s\nowner:    %s\n", in.slug, url, in.owner_email);
    if (generated)
        printf("password: %s   (generated: shown this once)\n", in.password);
    printf("trial:    until %s\n", res.trial_ends_at);
    arena_free(a);
    return 0;
}

static int cmd_admin(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "create") != 0)
        return usage(stderr);
    static const struct option opts[] = {
        {"email", required_argument, 0, 'e'},
        {"name", required_argument, 0, 'n'},
        {"password", required_argument, 0, 'p'},
        {0, 0, 0, 0},
    };
    const char *email = NULL, *name = NULL, *password = NULL;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            email = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'p':
            password = optarg;
            break;
        default:
            return usage(stderr);
        }
    }
    if (!email)
        return usage(stderr);
    struct arena *a = arena_new(4096);
    if (!name) /* the e-mail's local part */
        name = arena_strndup(a, email, strcspn(email, "@"));
    bool generated = !password;
    if (generated)
        password = crypto_token(a, 18);
    struct admin_created out;
    const char *problem = "";
    int rc = admin_create(a, email, name, password, &out, &problem);
    if (rc == ADMIN_EXISTS) {
        fprintf(stderr, "studiod: an admin %s already exists\n", email);
        arena_free(a);
        return EXIT_EXISTS;
    }
    if (rc != ADMIN_OK) {
        if (rc == ADMIN_INVALID)
            fprintf(stderr, "studiod: invalid admin: %s\n", problem);
        else
            fputs("studiod: could not create the admin (see the log above)\n", stderr);
        arena_free(a);
        return rc == ADMIN_INVALID ? 2 : 1;
    }
    printf("admin:    %s (%s)\n", email, out.id);
    if (generated)
        printf("password: %s   (generated: shown this once)\n", password);
    printf("totp:     %s\n", out.otpauth_uri);
    printf("secret:   %s   (add it to an authenticator app: scan the URI as a QR code or "
           "type the secret; shown this once)\n",
           out.secret_b32);
    arena_free(a);
    return 0;
}

static int cmd_routes(void)
{
    struct router *r = router_new(route_tables);
    if (!r)
        return 1;
    for (size_t i = 0; i < router_count(r); i++) {
        const struct route *rt = router_route(r, i);
        static const char *auth[] = {"public", "staff", "admin", "stripe"};
        printf("%s %s %s\n", rt->method, rt->pattern, auth[rt->auth]);
    }
    router_free(r);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        if (config_load() != 0)
            return 2;
        return usage(argc < 2 ? stderr : stdout);
    }
    if (config_load() != 0)
        return 2;
    log_set_level(g_config.log_level);
    const char *cmd = argv[1];
    if (strcmp(cmd, "routes") == 0)
        return cmd_routes();
    if (crypto_init() != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fputs("studiod: cannot initialise crypto/curl\n", stderr);
        return 1;
    }
    db_init(g_config.database_url, g_config.pool_per_db, g_config.pool_total, g_config.pool_wait_ms,
            g_config.pool_idle_seconds);
    int rc;
    if (strcmp(cmd, "serve") == 0)
        rc = cmd_serve(true);
    else if (strcmp(cmd, "worker") == 0)
        rc = cmd_serve(false);
    else if (strcmp(cmd, "migrate") == 0)
        rc = cmd_migrate();
    else if (strcmp(cmd, "tenant") == 0)
        rc = cmd_tenant(argc - 2, argv + 2);
    else if (strcmp(cmd, "admin") == 0)
        rc = cmd_admin(argc - 2, argv + 2);
    else
        rc = usage(stderr);
    db_shutdown();
    curl_global_cleanup();
    return rc;
}
