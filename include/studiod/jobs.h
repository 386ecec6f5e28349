/*
 * jobs.h — background work in a PostgreSQL table (master database),
 * claimed with FOR UPDATE SKIP LOCKED so any number of studiod processes can
 * run it without doing a job twice; failures retry with exponential backoff.
 */
#ifndef STUDIOD_JOBS_H
#define STUDIOD_JOBS_H

#include <jansson.h>
#include <stddef.h>

struct db_conn;

/* A job handler: 0 on success, -1 to retry later (err says why). */
typedef int (*job_handler)(json_t *payload, char *err, size_t errlen);

struct job_kind {
    const char *kind;
    job_handler run;
    int max_attempts;
};

/* Registers the kinds this process runs (a table ending with {0}; at most 32 kinds in all,
 * a kind registered again replaces the earlier entry). The strings must outlive the process. */
void jobs_register(const struct job_kind *kinds);
/* Queues a job on c (inside the caller's transaction when there is one). Steals payload
 * (NULL = {}). max_attempts comes from the registered kind, else the table's default.
 * delay_seconds 0 = now. 0 or -1. */
int jobs_enqueue(struct db_conn *c, const char *kind, json_t *payload, int delay_seconds);
/* Starts the runner thread (polls every STUDIOD_JOB_POLL_MS). */
int jobs_start(void);
/* Stops it, finishing the job in hand. */
void jobs_stop(void);
/* Claims and runs at most one due job; 1 if one ran, 0 if none was due, -1 on error. */
int jobs_run_one(void);
/* This process's outcomes so far: jobs done, failed for good, and put back to retry. */
void jobs_stats(long long *done, long long *failed, long long *retried);

#endif
