/*
 * ops_routes.c — liveness, readiness and metrics.
 *   GET /healthz   the process answers (no database touched: cheap enough to poll hard)
 *   GET /readyz    the master database answers a query, else 503
 *   GET /metrics   Prometheus text: requests, latency, pools, jobs
 */
#include "studiod/db.h"
#include "studiod/jobs.h"
#include "studiod/metrics.h"
#include "studiod/ops.h"

static void healthz(struct request *req);
static void readyz(struct request *req);
static void metrics(struct request *req);

const struct route ops_routes[] = {
    {"GET", "/healthz", healthz, TENANT_NONE, AUTH_PUBLIC, NULL, NULL, 0},
    {"GET", "/readyz", readyz, TENANT_NONE, AUTH_PUBLIC, NULL, NULL, 0},
    {"GET", "/metrics", metrics, TENANT_NONE, AUTH_PUBLIC, NULL, NULL, 0},
    {0},
};

static void healthz(struct request *req)
{
    http_reply_text(req, 200, "application/json", "{\"status\":\"ok\"}");
}

static void readyz(struct request *req)
{
    struct db_conn *m = db_acquire_master();
    bool ok = m && db_run(m, "SELECT 1", 0, NULL) == 0;
    db_release(m);
    if (ok)
        http_reply_text(req, 200, "application/json", "{\"status\":\"ready\"}");
    else
        http_reply_error(req, 503, "database_unavailable", "The master database does not answer",
                         NULL);
}

static void metrics(struct request *req)
{
    struct buf b;
    buf_init(&b, req->arena);
    metrics_render(&b);
    struct db_pool_stats s;
    db_stats(&s);
    buf_printf(&b,
               "# HELP studiod_db_pool_connections Pooled database connections by state.\n"
               "# TYPE studiod_db_pool_connections gauge\n"
               "studiod_db_pool_connections{state=\"in_use\"} %d\n"
               "studiod_db_pool_connections{state=\"idle\"} %d\n"
               "# HELP studiod_db_pool_waiting Requests waiting for a connection.\n"
               "# TYPE studiod_db_pool_waiting gauge\n"
               "studiod_db_pool_waiting %d\n"
               "# TYPE studiod_db_pools gauge\nstudiod_db_pools %d\n"
               "# TYPE studiod_db_connections_opened_total counter\n"
               "studiod_db_connections_opened_total %lld\n"
               "# TYPE studiod_db_connections_closed_total counter\n"
               "studiod_db_connections_closed_total %lld\n"
               "# TYPE studiod_db_pool_timeouts_total counter\n"
               "studiod_db_pool_timeouts_total %lld\n",
               s.in_use, s.idle, s.waiting, s.pools, s.opened, s.closed, s.timeouts);
    long long done = 0, failed = 0, retried = 0;
    jobs_stats(&done, &failed, &retried);
    buf_printf(&b,
               "# HELP studiod_jobs_total Background jobs run by this process, by outcome.\n"
               "# TYPE studiod_jobs_total counter\n"
               "studiod_jobs_total{outcome=\"done\"} %lld\n"
               "studiod_jobs_total{outcome=\"retried\"} %lld\n"
               "studiod_jobs_total{outcome=\"failed\"} %lld\n",
               done, retried, failed);
    http_reply_bytes(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
}
