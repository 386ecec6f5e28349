/*
 * config.c — reads STUDIOD_* (and the third-party) variables once at start.
 *
 * One table drives both reading and --help, so a variable can't be read
 * without being documented. Defaults work on a laptop: the README's
 * scripts/serve sets only STUDIOD_DATABASE_URL.
 */
#include "studiod/config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct config g_config;

enum var_type { VAR_STR, VAR_INT, VAR_SIZE, VAR_BOOL };

struct var {
    const char *name;
    enum var_type type;
    void *dest;
    const char *def;
    const char *help;
};

static const struct var vars[] = {
    {"STUDIOD_DATABASE_URL", VAR_STR, &g_config.database_url,
     "postgresql:///studiod", "master database (libpq URL); tenant databases go on the same server"},
    {"STUDIOD_PORT", VAR_INT, &g_config.port, "8080", "HTTP port"},
    {"STUDIOD_BIND", VAR_STR, &g_config.bind_address, "127.0.0.1", "address to listen on"},
    {"STUDIOD_BASE_DOMAIN", VAR_STR, &g_config.base_domain, "localhost",
     "studios are served at <slug>.<base domain>"},
    {"STUDIOD_PUBLIC_SCHEME", VAR_STR, &g_config.public_scheme, "http",
     "https when behind a TLS proxy (Secure cookies, HSTS)"},
    {"STUDIOD_MASTER_KEY", VAR_STR, &g_config.master_key, "",
     "64 hex chars; seals secrets at rest (required in production)"},
    {"SMTP_URL", VAR_STR, &g_config.smtp_url, "smtp://127.0.0.1:25", "outgoing mail server"},
    {"STUDIOD_MAIL_FROM", VAR_STR, &g_config.mail_from, "studiod <no-reply@localhost>",
     "From: of outgoing mail"},
    {"STUDIOD_HOME", VAR_STR, &g_config.home, STUDIOD_SOURCE_DIR,
     "folder holding templates/, static/ and migrations/"},
    {"STUDIOD_TRIAL_DAYS", VAR_INT, &g_config.trial_days, "14", "length of a new studio's trial"},
    {"STUDIOD_THREADS", VAR_INT, &g_config.threads, "8", "HTTP worker threads"},
    {"STUDIOD_BODY_LIMIT", VAR_SIZE, &g_config.body_limit, "1048576", "largest request body (bytes)"},
    {"STUDIOD_CONN_TIMEOUT", VAR_INT, &g_config.conn_timeout, "30", "idle HTTP connection timeout (s)"},
    {"STUDIOD_POOL_PER_DB", VAR_INT, &g_config.pool_per_db, "8", "connections per database"},
    {"STUDIOD_POOL_TOTAL", VAR_INT, &g_config.pool_total, "64", "connections in all"},
    {"STUDIOD_POOL_WAIT_MS", VAR_INT, &g_config.pool_wait_ms, "2000",
     "longest wait for a connection before 503"},
    {"STUDIOD_POOL_IDLE_SECONDS", VAR_INT, &g_config.pool_idle_seconds, "300",
     "idle connections older than this are closed"},
    {"STUDIOD_SESSION_IDLE_MINUTES", VAR_INT, &g_config.session_idle_minutes, "720",
     "staff session idle expiry"},
    {"STUDIOD_SESSION_MAX_HOURS", VAR_INT, &g_config.session_max_hours, "168",
     "staff session absolute expiry"},
    {"STUDIOD_SESSION_CACHE_SECONDS", VAR_INT, &g_config.session_cache_seconds, "20",
     "longest life of a cached staff session (0: no cache; at most 50)"},
    {"STUDIOD_AVAILABILITY_CACHE_SECONDS", VAR_INT, &g_config.availability_cache_seconds, "5",
     "life of a cached public availability answer and room rules (0: no cache)"},
    {"STUDIOD_JOB_POLL_MS", VAR_INT, &g_config.job_poll_ms, "1000", "job queue poll interval"},
    {"STUDIOD_JOB_BACKOFF_SECONDS", VAR_INT, &g_config.job_backoff_seconds, "30",
     "first retry delay of a failed job (doubles each time)"},
    {"STUDIOD_RUN_JOBS", VAR_BOOL, &g_config.run_jobs, "1", "serve also runs background jobs"},
    {"STUDIOD_LOG_LEVEL", VAR_STR, &g_config.log_level, "info", "debug, info, warn or error"},
    {"STUDIOD_FAULT", VAR_STR, &g_config.fault, "", "test only: a named failure to inject"},
    {"STRIPE_API_BASE", VAR_STR, &g_config.stripe_api_base, "https://api.stripe.com",
     "Stripe API base URL (a stand-in in tests)"},
    {"STRIPE_SECRET_KEY", VAR_STR, &g_config.stripe_secret_key, "",
     "Stripe secret key (sk_...); empty turns payments off"},
    {"STRIPE_WEBHOOK_SECRET", VAR_STR, &g_config.stripe_webhook_secret, "",
     "signing secret (whsec_...) of the studios' payment webhook endpoint"},
    {"STRIPE_BILLING_WEBHOOK_SECRET", VAR_STR, &g_config.stripe_billing_webhook_secret, "",
     "signing secret (whsec_...) of the platform's billing webhook endpoint"},
};

#define NVARS (sizeof(vars) / sizeof(vars[0]))

static int parse_long(const char *name, const char *s, long lo, long hi, long *out);

static int parse_long(const char *name, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "studiod: %s=%s is not a number in [%ld, %ld]\n", name, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int config_load(void)
{
    for (size_t i = 0; i < NVARS; i++) {
        const struct var *v = &vars[i];
        const char *s = getenv(v->name);
        if (!s || !*s)
            s = v->def;
        long n;
        switch (v->type) {
        case VAR_STR:
            *(const char **)v->dest = s;
            break;
        case VAR_INT:
            if (parse_long(v->name, s, 0, INT_MAX, &n))
                return -1;
            *(int *)v->dest = (int)n;
            break;
        case VAR_SIZE:
            if (parse_long(v->name, s, 1, LONG_MAX, &n))
                return -1;
            *(size_t *)v->dest = (size_t)n;
            break;
        case VAR_BOOL:
            *(bool *)v->dest = !(strcmp(s, "0") == 0 || strcasecmp(s, "false") == 0 ||
                                 strcasecmp(s, "no") == 0);
            break;
        }
    }
    if (g_config.threads < 1)
        g_config.threads = 1;
    if (g_config.pool_per_db < 1)
        g_config.pool_per_db = 1;
    if (g_config.pool_total < g_config.pool_per_db)
        g_config.pool_total = g_config.pool_per_db;
    return 0;
}

void config_print_help(FILE *out)
{
    fputs("Configuration (environment variables, with defaults):\n", out);
    for (size_t i = 0; i < NVARS; i++)
        fprintf(out, "  %-30s %s\n  %-30s   default: %s\n", vars[i].name, vars[i].help, "",
                *vars[i].def ? vars[i].def : "(empty)");
    fputs("  ANTHROPIC_API_BASE, OPENAI_API_BASE, ACME_DIRECTORY_URL, STUDIOD_DNS_SERVER,\n"
          "  RATES_API_URL: third-party services (used by later capabilities)\n",
          out);
}

const char *config_path(const char *rel)
{
    static _Thread_local char path[4096];
    snprintf(path, sizeof(path), "%s/%s", g_config.home ? g_config.home : STUDIOD_SOURCE_DIR, rel);
    return path;
}

bool config_fault(const char *point)
{
    return g_config.fault && *g_config.fault && strcmp(g_config.fault, point) == 0;
}
