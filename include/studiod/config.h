/*
 * config.h — the process configuration, read once from the environment at
 * start into one struct that every module reads and nobody writes.
 */
#ifndef STUDIOD_CONFIG_H
#define STUDIOD_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

struct config {
    const char *database_url;   /* STUDIOD_DATABASE_URL: the master database */
    int port;                   /* STUDIOD_PORT */
    const char *bind_address;   /* STUDIOD_BIND */
    const char *base_domain;    /* STUDIOD_BASE_DOMAIN */
    const char *public_scheme;  /* STUDIOD_PUBLIC_SCHEME: http or https (HSTS, Secure cookies) */
    const char *master_key;     /* STUDIOD_MASTER_KEY (hex, 32 bytes) */
    const char *smtp_url;       /* SMTP_URL */
    const char *mail_from;      /* STUDIOD_MAIL_FROM */
    const char *home;           /* STUDIOD_HOME: folder with templates/, static/, migrations/ */
    int trial_days;             /* STUDIOD_TRIAL_DAYS */
    int threads;                /* STUDIOD_THREADS: HTTP thread pool size */
    size_t body_limit;          /* STUDIOD_BODY_LIMIT bytes */
    int conn_timeout;           /* STUDIOD_CONN_TIMEOUT seconds */
    int pool_per_db;            /* STUDIOD_POOL_PER_DB */
    int pool_total;             /* STUDIOD_POOL_TOTAL */
    int pool_wait_ms;           /* STUDIOD_POOL_WAIT_MS */
    int pool_idle_seconds;      /* STUDIOD_POOL_IDLE_SECONDS */
    int session_idle_minutes;   /* STUDIOD_SESSION_IDLE_MINUTES */
    int session_cache_seconds;  /* STUDIOD_SESSION_CACHE_SECONDS */
    int availability_cache_seconds; /* STUDIOD_AVAILABILITY_CACHE_SECONDS */
    int session_max_hours;      /* STUDIOD_SESSION_MAX_HOURS */
    int job_poll_ms;            /* STUDIOD_JOB_POLL_MS */
    int job_backoff_seconds;    /* STUDIOD_JOB_BACKOFF_SECONDS */
    bool run_jobs;              /* STUDIOD_RUN_JOBS: serve also runs the job worker */
    const char *fault;          /* STUDIOD_FAULT: test-only fault injection point */
    const char *log_level;      /* STUDIOD_LOG_LEVEL */
    const char *stripe_api_base;               /* STRIPE_API_BASE */
    const char *stripe_secret_key;             /* STRIPE_SECRET_KEY: empty = payments off */
    const char *stripe_webhook_secret;         /* STRIPE_WEBHOOK_SECRET: Connect events */
    const char *stripe_billing_webhook_secret; /* STRIPE_BILLING_WEBHOOK_SECRET: our billing */
};

extern struct config g_config;

/* Reads the environment into g_config. Returns 0, or -1 after printing why. */
int config_load(void);
/* Prints every variable with its default (for --help). */
void config_print_help(FILE *out);
/* A path under STUDIOD_HOME, in a static thread-local buffer. */
const char *config_path(const char *rel);
/* True when STUDIOD_FAULT names this point (test hooks only). */
bool config_fault(const char *point);

#endif
