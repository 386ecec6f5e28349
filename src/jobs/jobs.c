/*
 * jobs.c — the job queue: rows of the master table `jobs`, claimed one at a
 * time and run by the handler registered for their kind.
 *
 * A claim is one autocommitted UPDATE whose subquery picks the oldest due
 * job with FOR UPDATE SKIP LOCKED: concurrent claimers (threads here, or
 * other studiod processes) skip each other's rows instead of waiting, and
 * no job is claimed twice. The claim bumps `attempts`, so (id, attempts)
 * names one run; the outcome is written only if that run still owns the
 * row (status 'running' with the same attempts), which keeps a run that
 * the reaper gave up on from overwriting a newer one.
 *
 * The connection is released while the handler runs (handlers take their
 * own, and SMTP can take seconds), then taken again to record the outcome.
 * A process that dies mid-job leaves the row 'running'; any runner puts
 * such rows back in the queue after JOBS_STUCK_AFTER (or fails them when
 * their attempts are used up).
 *
 * Failures retry after job_backoff_seconds * 2^(attempts-1), capped at an
 * hour, until max_attempts, then the job is 'failed' for good.
 */
#include "studiod/jobs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "studiod/arena.h"
#include "studiod/config.h"
#include "studiod/db.h"
#include "studiod/deadline.h"
#include "studiod/log.h"

#define JOBS_MAX_KINDS 32
#define JOBS_MAX_BACKOFF_SECONDS 3600L
#define JOBS_STUCK_AFTER "10 minutes"
#define JOBS_ERROR_MAX 1024
#define JOBS_MIN_POLL_MS 10

/* One claimed run of a job; strings live in the caller's arena. */
struct job_run {
    const char *id;
    const char *kind;
    const char *payload;
    const char *attempts; /* text, as it goes back into the finishing UPDATE */
    int attempt, max_attempts;
};

static struct {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;  /* signalled by jobs_stop; CLOCK_MONOTONIC */
    bool wake_ready;
    struct job_kind kinds[JOBS_MAX_KINDS];
    int nkinds;
    bool started, stopping;
    pthread_t thread;
} J = {.lock = PTHREAD_MUTEX_INITIALIZER};

static atomic_llong stat_done, stat_failed, stat_retried;

static pthread_once_t worker_once = PTHREAD_ONCE_INIT;
static char worker_id[300];

static void jobs_worker_id_init(void);
static const struct job_kind *jobs_find_locked(const char *kind);
static const char *jobs_kinds_literal(struct arena *a);
static long jobs_backoff_seconds(int attempt);
static int jobs_reap_stuck(struct db_conn *c);
static int jobs_claim(struct db_conn *c, struct arena *a, const char *kinds, struct job_run *run);
static void jobs_execute(const struct job_run *run);
static void jobs_finish(const struct job_run *run, int rc, const char *err);
static bool jobs_stopping(void);
static void *jobs_thread(void *arg);

/* "host:pid", the locked_by of this process's claims. */
static void jobs_worker_id_init(void)
{
    char host[256];
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    snprintf(worker_id, sizeof(worker_id), "%s:%ld", host, (long)getpid());
}

/* Called with J.lock held. */
static const struct job_kind *jobs_find_locked(const char *kind)
{
    for (int i = 0; i < J.nkinds; i++)
        if (strcmp(J.kinds[i].kind, kind) == 0)
            return &J.kinds[i];
    return NULL;
}

void jobs_register(const struct job_kind *kinds)
{
    pthread_mutex_lock(&J.lock);
    for (const struct job_kind *k = kinds; k && k->kind; k++) {
        if (!k->run)
            continue;
        struct job_kind *slot = (struct job_kind *)jobs_find_locked(k->kind);
        if (!slot) {
            if (J.nkinds == JOBS_MAX_KINDS) {
                log_msg(LOG_ERROR, "jobs: more than %d job kinds; %s not registered",
                        JOBS_MAX_KINDS, k->kind);
                continue;
            }
            slot = &J.kinds[J.nkinds++];
        }
        *slot = *k;
    }
    pthread_mutex_unlock(&J.lock);
}

/* The registered kinds as a text[] literal ({"a","b"}), or NULL when there are none. */
static const char *jobs_kinds_literal(struct arena *a)
{
    struct buf b;
    buf_init(&b, a);
    pthread_mutex_lock(&J.lock);
    int n = J.nkinds;
    for (int i = 0; i < n; i++) {
        buf_puts(&b, i ? ",\"" : "{\"");
        for (const char *p = J.kinds[i].kind; *p; p++) {
            if (*p == '"' || *p == '\\')
                buf_append(&b, "\\", 1);
            buf_append(&b, p, 1);
        }
        buf_puts(&b, "\"");
    }
    pthread_mutex_unlock(&J.lock);
    if (n == 0)
        return NULL;
    buf_puts(&b, "}");
    return buf_cstr(&b);
}

static const char sql_enqueue[] =
    "INSERT INTO jobs (kind, payload, run_at, max_attempts)\n"
    "VALUES ($1, $2::jsonb, now() + make_interval(secs => $3::float8), $4::int)";

/* Without a registered kind the table's default max_attempts applies. */
static const char sql_enqueue_default_attempts[] =
    "INSERT INTO jobs (kind, payload, run_at)\n"
    "VALUES ($1, $2::jsonb, now() + make_interval(secs => $3::float8))";

int jobs_enqueue(struct db_conn *c, const char *kind, json_t *payload, int delay_seconds)
{
    char *text = payload ? json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    bool had_payload = payload != NULL;
    json_decref(payload);
    if (!kind || !*kind || (had_payload && !text)) {
        free(text);
        return -1;
    }
    int max_attempts = 0;
    pthread_mutex_lock(&J.lock);
    const struct job_kind *k = jobs_find_locked(kind);
    if (k)
        max_attempts = k->max_attempts;
    pthread_mutex_unlock(&J.lock);

    char delay[16], attempts[16];
    snprintf(delay, sizeof(delay), "%d", delay_seconds > 0 ? delay_seconds : 0);
    snprintf(attempts, sizeof(attempts), "%d", max_attempts);
    const char *params[] = {kind, text ? text : "{}", delay, attempts};
    int rc = max_attempts > 0 ? db_run(c, sql_enqueue, 4, params)
                              : db_run(c, sql_enqueue_default_attempts, 3, params);
    free(text);
    return rc;
}

static long jobs_backoff_seconds(int attempt)
{
    long d = g_config.job_backoff_seconds > 0 ? g_config.job_backoff_seconds : 0;
    for (int i = 1; i < attempt && d < JOBS_MAX_BACKOFF_SECONDS; i++)
        d *= 2;
    return d < JOBS_MAX_BACKOFF_SECONDS ? d : JOBS_MAX_BACKOFF_SECONDS;
}

/* A run still 'running' this long belongs to a process that died (handlers time out
 * long before). Its claim already counted as an attempt. */
static const char sql_reap_stuck[] =
    "UPDATE jobs\n"
    "   SET status = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,\n"
    "       finished_at = CASE WHEN attempts < max_attempts THEN NULL ELSE now() END,\n"
    "       last_error = 'abandoned by ' || coalesce(locked_by, '?') || ': ' || $2\n"
    " WHERE status = 'running' AND locked_at < now() - $1::interval\n"
    "RETURNING id, kind, status, locked_by";

static int jobs_reap_stuck(struct db_conn *c)
{
    const char *params[] = {JOBS_STUCK_AFTER, "still running after " JOBS_STUCK_AFTER};
    PGresult *res = db_exec(c, sql_reap_stuck, 2, params, NULL);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples(res); i++)
        log_json(LOG_WARN,
                 json_pack("{s:s, s:s, s:s, s:s, s:s?}", "msg", "job abandoned by its worker",
                           "job_id", db_get(res, i, "id"), "kind", db_get(res, i, "kind"), "status",
                           db_get(res, i, "status"), "worker", db_get(res, i, "locked_by")));
    PQclear(res);
    return 0;
}

/* Correctness depends on the single statement: the subquery's row lock is held
 * until the UPDATE commits, and SKIP LOCKED makes other claimers pass it by. */
static const char sql_claim[] =
    "UPDATE jobs\n"
    "   SET status = 'running', attempts = attempts + 1, locked_at = now(), locked_by = $1\n"
    " WHERE id = (SELECT id FROM jobs\n"
    "              WHERE status = 'queued' AND run_at <= now() AND kind = ANY($2::text[])\n"
    "              ORDER BY run_at, id\n"
    "              FOR UPDATE SKIP LOCKED\n"
    "              LIMIT 1)\n"
    "RETURNING id, kind, payload, attempts, max_attempts";

/* 1 with run filled, 0 when nothing is due, -1 on a database error. */
static int jobs_claim(struct db_conn *c, struct arena *a, const char *kinds, struct job_run *run)
{
    const char *params[] = {worker_id, kinds};
    PGresult *res = db_exec(c, sql_claim, 2, params, NULL);
    if (!res)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }
    run->id = db_get_dup(a, res, 0, "id");
    run->kind = db_get_dup(a, res, 0, "kind");
    run->payload = db_get_dup(a, res, 0, "payload");
    run->attempts = db_get_dup(a, res, 0, "attempts");
    run->attempt = atoi(run->attempts);
    run->max_attempts = atoi(db_get(res, 0, "max_attempts"));
    PQclear(res);
    return 1;
}

int jobs_run_one(void)
{
    pthread_once(&worker_once, jobs_worker_id_init);
    struct arena *a = arena_new(1024);
    const char *kinds = jobs_kinds_literal(a);
    if (!kinds) {
        arena_free(a);
        return 0;
    }
    struct db_conn *c = db_acquire_master();
    if (!c) {
        arena_free(a);
        return -1;
    }
    struct job_run run;
    int rc = jobs_reap_stuck(c) == 0 ? jobs_claim(c, a, kinds, &run) : -1;
    db_release(c);
    if (rc == 1)
        jobs_execute(&run);
    arena_free(a);
    return rc;
}

/* Runs the handler for one claimed job and records what happened. */
static void jobs_execute(const struct job_run *run)
{
    char err[JOBS_ERROR_MAX] = "";
    job_handler handler = NULL;
    pthread_mutex_lock(&J.lock);
    const struct job_kind *k = jobs_find_locked(run->kind);
    if (k)
        handler = k->run;
    pthread_mutex_unlock(&J.lock);

    int rc = -1;
    json_error_t jerr;
    json_t *payload = json_loads(run->payload ? run->payload : "{}", JSON_DECODE_ANY, &jerr);
    if (!handler)
        snprintf(err, sizeof(err), "no handler for job kind %s", run->kind);
    else if (!payload)
        snprintf(err, sizeof(err), "payload is not JSON: %s", jerr.text);
    else
        rc = handler(payload, err, sizeof(err));
    json_decref(payload);
    if (rc != 0 && !err[0])
        snprintf(err, sizeof(err), "job handler failed");
    jobs_finish(run, rc, err);
}

static const char sql_done[] = "UPDATE jobs SET status = 'done', finished_at = now()\n"
                               " WHERE id = $1 AND status = 'running' AND attempts = $2";

/* attempts was counted by the claim, so attempts < max_attempts means a run is left. */
static const char sql_failed[] =
    "UPDATE jobs\n"
    "   SET status = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,\n"
    "       run_at = CASE WHEN attempts < max_attempts\n"
    "                     THEN now() + make_interval(secs => $3::float8) ELSE run_at END,\n"
    "       finished_at = CASE WHEN attempts < max_attempts THEN NULL ELSE now() END,\n"
    "       last_error = $4\n"
    " WHERE id = $1 AND status = 'running' AND attempts = $2\n"
    "RETURNING status";

/* Records the outcome of run. When the database can't be reached the row stays
 * 'running' and the reaper re-queues it later. */
static void jobs_finish(const struct job_run *run, int rc, const char *err)
{
    struct db_conn *c = db_acquire_master();
    if (!c) {
        log_json(LOG_ERROR, json_pack("{s:s, s:s, s:s, s:b}", "msg",
                                      "job outcome not recorded: no database connection", "job_id",
                                      run->id, "kind", run->kind, "ok", rc == 0));
        return;
    }
    if (rc == 0) {
        const char *params[] = {run->id, run->attempts};
        PGresult *res = db_exec(c, sql_done, 2, params, NULL);
        if (res) {
            if (strcmp(PQcmdTuples(res), "1") != 0)
                log_json(LOG_WARN, json_pack("{s:s, s:s, s:s}", "msg",
                                             "job finished after its claim was taken back",
                                             "job_id", run->id, "kind", run->kind));
            PQclear(res);
        }
        atomic_fetch_add(&stat_done, 1);
        log_json(LOG_DEBUG, json_pack("{s:s, s:s, s:s, s:i}", "msg", "job done", "job_id", run->id,
                                      "kind", run->kind, "attempt", run->attempt));
        db_release(c);
        return;
    }

    long backoff = jobs_backoff_seconds(run->attempt);
    char delay[24];
    snprintf(delay, sizeof(delay), "%ld", backoff);
    const char *params[] = {run->id, run->attempts, delay, err};
    PGresult *res = db_exec(c, sql_failed, 4, params, NULL);
    const char *status = res && PQntuples(res) == 1 ? db_get(res, 0, "status") : NULL;
    if (status && strcmp(status, "queued") == 0) {
        atomic_fetch_add(&stat_retried, 1);
        log_json(LOG_WARN, json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:s}", "msg",
                                     "job failed; will retry", "job_id", run->id, "kind", run->kind,
                                     "attempt", run->attempt, "max_attempts", run->max_attempts,
                                     "retry_in_seconds", (json_int_t)backoff, "error", err));
    } else if (status) {
        atomic_fetch_add(&stat_failed, 1);
        log_json(LOG_ERROR,
                 json_pack("{s:s, s:s, s:s, s:i, s:s}", "msg", "job failed for good", "job_id",
                           run->id, "kind", run->kind, "attempts", run->attempt, "error", err));
    } else if (res) {
        log_json(LOG_WARN, json_pack("{s:s, s:s, s:s, s:s}", "msg",
                                     "job failed after its claim was taken back", "job_id", run->id,
                                     "kind", run->kind, "error", err));
    }
    PQclear(res);
    db_release(c);
}

void jobs_stats(long long *done, long long *failed, long long *retried)
{
    if (done)
        *done = atomic_load(&stat_done);
    if (failed)
        *failed = atomic_load(&stat_failed);
    if (retried)
        *retried = atomic_load(&stat_retried);
}

static bool jobs_stopping(void)
{
    pthread_mutex_lock(&J.lock);
    bool s = J.stopping;
    pthread_mutex_unlock(&J.lock);
    return s;
}

/* Runs due jobs until none is left, then sleeps job_poll_ms or until jobs_stop. */
static void *jobs_thread(void *arg)
{
    (void)arg;
    log_msg(LOG_INFO, "job runner started");
    for (;;) {
        while (!jobs_stopping() && jobs_run_one() == 1)
            ;
        int poll_ms =
            g_config.job_poll_ms > JOBS_MIN_POLL_MS ? g_config.job_poll_ms : JOBS_MIN_POLL_MS;
        struct timespec deadline = deadline_after_ms(CLOCK_MONOTONIC, poll_ms);
        pthread_mutex_lock(&J.lock);
        /* Checked under the lock that jobs_stop signals under: no lost wake-up. */
        if (!J.stopping)
            pthread_cond_timedwait(&J.wake, &J.lock, &deadline);
        bool stop = J.stopping;
        pthread_mutex_unlock(&J.lock);
        if (stop)
            break;
    }
    log_msg(LOG_INFO, "job runner stopped");
    return NULL;
}

int jobs_start(void)
{
    pthread_once(&worker_once, jobs_worker_id_init);
    pthread_mutex_lock(&J.lock);
    if (J.started) {
        pthread_mutex_unlock(&J.lock);
        return 0;
    }
    if (!J.wake_ready) {
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&J.wake, &attr);
        pthread_condattr_destroy(&attr);
        J.wake_ready = true;
    }
    J.stopping = false;
    int rc = pthread_create(&J.thread, NULL, jobs_thread, NULL);
    if (rc != 0) {
        pthread_mutex_unlock(&J.lock);
        log_msg(LOG_ERROR, "jobs: cannot start the runner thread: %s", strerror(rc));
        return -1;
    }
    J.started = true;
    pthread_mutex_unlock(&J.lock);
    return 0;
}

void jobs_stop(void)
{
    pthread_mutex_lock(&J.lock);
    if (!J.started) {
        pthread_mutex_unlock(&J.lock);
        return;
    }
    J.started = false;
    J.stopping = true;
    pthread_cond_broadcast(&J.wake);
    pthread_t t = J.thread;
    pthread_mutex_unlock(&J.lock);
    pthread_join(t, NULL);
}
