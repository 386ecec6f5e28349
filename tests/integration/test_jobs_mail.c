/*
 * test_jobs_mail.c — the job queue and the outbox against a real
 * PostgreSQL and a real SMTP sink: a queued mail arrives, a mail whose SMTP
 * server is down is retried with backoff and then delivered exactly once,
 * concurrent runners never run a job twice, a job that always fails ends
 * 'failed', a job abandoned by a dead worker is picked up again, and the
 * runner thread works and stops promptly.
 *
 * Needs STUDIOD_DATABASE_URL (a superuser may CREATE DATABASE there),
 * SMTP_URL and STUDIOD_TEST_MAILDIR (the sink's maildir), as scripts/test
 * sets them; skips when they are missing. Everything happens in a fresh
 * database jobs_test_<random> holding only migrations/master/0002, dropped
 * at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "studiod/config.h"
#include "studiod/crypto.h"
#include "studiod/db.h"
#include "studiod/jobs.h"
#include "studiod/log.h"
#include "studiod/mail.h"

#define MIGRATION STUDIOD_SOURCE_DIR "/migrations/master/0002_jobs_outbox.sql"
#define WAIT_MS 10000
#define POLL_MS 20
#define COUNT_JOBS 20

static struct {
    bool skip;
    const char *why;
    PGconn *admin; /* the harness's database: CREATE / DROP DATABASE */
    PGconn *db;    /* the test database: set-up and assertions */
    char dbname[64];
    char *url;
    const char *sink_url;
    const char *maildir;
} T;

static atomic_int counts[COUNT_JOBS];

static int count_job(json_t *payload, char *err, size_t errlen);
static int fail_job(json_t *payload, char *err, size_t errlen);

static const struct job_kind test_kinds[] = {
    {"test_count", count_job, 5},
    {"test_fail", fail_job, 3},
    {0},
};

/* Counts runs of job {"n": i} in counts[i]; sleeps a little so that concurrent
 * runners really overlap. */
static int count_job(json_t *payload, char *err, size_t errlen)
{
    json_int_t n = json_integer_value(json_object_get(payload, "n"));
    if (n < 0 || n >= COUNT_JOBS) {
        snprintf(err, errlen, "bad n");
        return -1;
    }
    atomic_fetch_add(&counts[n], 1);
    usleep(2000);
    return 0;
}

static int fail_job(json_t *payload, char *err, size_t errlen)
{
    (void)payload;
    snprintf(err, errlen, "always fails");
    return -1;
}

/* ---- helpers ----------------------------------------------------------------------- */

#define REQUIRE_PEERS()                                                                            \
    do {                                                                                           \
        if (T.skip) {                                                                              \
            print_message("skipped: %s\n", T.why);                                                 \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* url with its database replaced by dbname (a postgresql:// URL or a conninfo string). */
static char *url_with_dbname(const char *url, const char *dbname)
{
    char *out;
    const char *scheme = strstr(url, "://");
    if (!scheme ||
        (strncmp(url, "postgresql://", 13) != 0 && strncmp(url, "postgres://", 11) != 0)) {
        if (asprintf(&out, "%s dbname=%s", url, dbname) < 0)
            return NULL;
        return out;
    }
    const char *authority = scheme + 3;
    size_t path = strcspn(authority, "/?");
    const char *query = strchr(authority, '?');
    if (asprintf(&out, "%.*s/%s%s", (int)(authority + path - url), url, dbname,
                 query ? query : "") < 0)
        return NULL;
    return out;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

/* The first value of the first row of sql on the test database (malloc'd; NULL for SQL NULL
 * or no row). Fails the test on an SQL error. */
static char *q1(const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(T.db, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("SQL failed: %s\n%s", msg, sql);
    }
    char *v = NULL;
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void exec_ok(const char *sql, int n, const char *const *params)
{
    free(q1(sql, n, params));
}

/* Asserts that q1(sql) is want. */
static void assert_q1(const char *want, const char *sql, int n, const char *const *params)
{
    char *v = q1(sql, n, params);
    if (!v || strcmp(v, want) != 0) {
        char got[256];
        snprintf(got, sizeof(got), "%s", v ? v : "(null)");
        free(v);
        fail_msg("expected %s, got %s from\n%s", want, got, sql);
    }
    free(v);
}

/* How many messages in the maildir contain needle; the first one's text in *first if asked. */
static int maildir_count(const char *needle, char **first)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/new", T.maildir);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        char *text = read_file(path);
        if (text && strstr(text, needle)) {
            n++;
            if (first && !*first) {
                *first = text;
                text = NULL;
            }
        }
        free(text);
    }
    closedir(d);
    return n;
}

/* Polls the maildir (at most WAIT_MS) until want messages contain needle; returns the count. */
static int wait_for_mail(const char *needle, int want, char **first)
{
    double deadline = now_ms() + WAIT_MS;
    int n;
    while ((n = maildir_count(needle, NULL)) < want && now_ms() < deadline)
        usleep(POLL_MS * 1000);
    if (first && n > 0)
        maildir_count(needle, first);
    return n;
}

/* A random hex token (2 * nbytes characters) in out. */
static void random_hex(char *out, size_t nbytes)
{
    unsigned char raw[16];
    randombytes_buf(raw, nbytes);
    sodium_bin2hex(out, nbytes * 2 + 1, raw, nbytes);
}

/* A port on 127.0.0.1 that nothing listens on (bound, read, closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void enqueue(const char *kind, json_t *payload)
{
    struct db_conn *c = db_acquire_master();
    assert_non_null(c);
    assert_int_equal(jobs_enqueue(c, kind, payload, 0), 0);
    db_release(c);
}

/* Queues m in its own transaction, as a caller would. */
static void queue_mail(const struct mail *m)
{
    struct db_conn *c = db_acquire_master();
    assert_non_null(c);
    assert_int_equal(db_begin(c), 0);
    assert_int_equal(mail_queue(c, m), 0);
    assert_int_equal(db_commit(c), 0);
    db_release(c);
}

/* ---- fixtures ---------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    const char *url = getenv("STUDIOD_DATABASE_URL");
    T.sink_url = getenv("SMTP_URL");
    T.maildir = getenv("STUDIOD_TEST_MAILDIR");
    if (!url || !*url || !T.sink_url || !*T.sink_url || !T.maildir || !*T.maildir) {
        T.skip = true;
        T.why = "STUDIOD_DATABASE_URL, SMTP_URL or STUDIOD_TEST_MAILDIR is not set";
        return 0;
    }
    if (config_load() != 0 || crypto_init() != 0)
        return -1;
    log_set_level(getenv("STUDIOD_LOG_LEVEL") ? getenv("STUDIOD_LOG_LEVEL") : "error");

    T.admin = PQconnectdb(url);
    if (PQstatus(T.admin) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to %s: %s", url, PQerrorMessage(T.admin));
        return -1;
    }
    char hex[17];
    random_hex(hex, 8);
    snprintf(T.dbname, sizeof(T.dbname), "jobs_test_%s", hex);
    char *ident = PQescapeIdentifier(T.admin, T.dbname, strlen(T.dbname));
    char sql[256];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", ident);
    PQfreemem(ident);
    PGresult *r = PQexec(T.admin, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    if (!ok) {
        T.dbname[0] = '\0';
        return -1;
    }

    T.url = url_with_dbname(url, T.dbname);
    T.db = PQconnectdb(T.url);
    if (PQstatus(T.db) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to %s: %s", T.url, PQerrorMessage(T.db));
        return -1;
    }
    char *migration = read_file(MIGRATION);
    if (!migration) {
        fprintf(stderr, "cannot read %s\n", MIGRATION);
        return -1;
    }
    r = PQexec(T.db, migration);
    free(migration);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "migration: %s", PQresultErrorMessage(r));
    PQclear(r);
    if (!ok)
        return -1;

    g_config.database_url = T.url;
    if (db_init(T.url, 8, 16, 5000, 60) != 0)
        return -1;
    jobs_register(mail_job_kinds);
    jobs_register(test_kinds);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    jobs_stop();
    db_shutdown();
    if (T.db)
        PQfinish(T.db);
    if (T.admin && T.dbname[0]) {
        char *ident = PQescapeIdentifier(T.admin, T.dbname, strlen(T.dbname));
        char sql[256];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", ident);
        PQfreemem(ident);
        PGresult *r = PQexec(T.admin, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    }
    if (T.admin)
        PQfinish(T.admin);
    free(T.url);
    return 0;
}

/* Each test starts with empty tables, the real sink, a 1 s backoff and zeroed counters. */
static int test_setup(void **state)
{
    (void)state;
    if (T.skip)
        return 0;
    exec_ok("TRUNCATE jobs, outbox", 0, NULL);
    g_config.smtp_url = T.sink_url;
    g_config.job_backoff_seconds = 1;
    g_config.job_poll_ms = 50;
    for (int i = 0; i < COUNT_JOBS; i++)
        atomic_store(&counts[i], 0);
    return 0;
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_queued_mail_is_delivered_with_its_recipient_and_subject(void **state)
{
    (void)state;
    REQUIRE_PEERS();
    char token[17], to[128], subject[128];
    random_hex(token, 8);
    snprintf(to, sizeof(to), "alice.%s@example.test", token);
    snprintf(subject, sizeof(subject), "Booking confirmed %s", token);
    struct mail m = {.to = to,
                     .subject = subject,
                     .text = "See you on Tuesday.\n",
                     .html = "<p>See you on <b>Tuesday</b>.</p>",
                     .attachment_name = "booking.ics",
                     .attachment_type = "text/calendar; method=REQUEST",
                     .attachment_content = "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"};
    queue_mail(&m);
    assert_q1("1", "SELECT count(*) FROM jobs WHERE kind = 'send_mail' AND status = 'queued'", 0,
              NULL);
    assert_q1("20", "SELECT max_attempts FROM jobs WHERE kind = 'send_mail'", 0, NULL);

    assert_int_equal(jobs_run_one(), 1);

    char *mail = NULL;
    assert_int_equal(wait_for_mail(token, 1, &mail), 1);
    char *want_to = NULL, *want_subject = NULL, *want_rcpt = NULL;
    assert_true(asprintf(&want_to, "\nTo: %s\n", to) > 0);
    assert_true(asprintf(&want_subject, "\nSubject: %s\n", subject) > 0);
    assert_true(asprintf(&want_rcpt, "\nX-RcptTo: %s\n", to) > 0);
    /* The maildir stores lines with \n. */
    bool has_to = strstr(mail, want_to) != NULL, has_subject = strstr(mail, want_subject) != NULL,
         has_rcpt = strstr(mail, want_rcpt) != NULL,
         has_mixed = strstr(mail, "Content-Type: multipart/mixed;") != NULL;
    free(want_to);
    free(want_subject);
    free(want_rcpt);
    if (!has_to || !has_subject || !has_rcpt || !has_mixed) {
        print_error("delivered message:\n%s\n", mail);
        free(mail);
        fail_msg("To, Subject, X-RcptTo or the multipart/mixed type is missing");
    }
    free(mail);

    assert_q1("done", "SELECT status FROM jobs WHERE kind = 'send_mail'", 0, NULL);
    assert_q1("t", "SELECT sent_at IS NOT NULL FROM outbox", 0, NULL);
    /* Nothing else is due, and running again sends nothing. */
    assert_int_equal(jobs_run_one(), 0);
    assert_int_equal(maildir_count(token, NULL), 1);
}

static void test_mail_queued_in_a_rolled_back_transaction_is_never_sent(void **state)
{
    (void)state;
    REQUIRE_PEERS();
    struct mail m = {.to = "nobody@example.test", .subject = "rolled back", .text = "x"};
    struct db_conn *c = db_acquire_master();
    assert_non_null(c);
    assert_int_equal(db_begin(c), 0);
    assert_int_equal(mail_queue(c, &m), 0);
    db_rollback(c);
    db_release(c);
    assert_q1("0", "SELECT count(*) FROM outbox", 0, NULL);
    assert_q1("0", "SELECT count(*) FROM jobs", 0, NULL);
    assert_int_equal(jobs_run_one(), 0);

    /* A recipient with a line break is refused outright. */
    struct mail bad = {.to = "a@example.test\r\nBcc: b@example.test", .subject = "x", .text = "x"};
    c = db_acquire_master();
    assert_non_null(c);
    assert_int_equal(mail_queue(c, &bad), -1);
    db_release(c);
    assert_q1("0", "SELECT count(*) FROM outbox", 0, NULL);
}

static void test_mail_to_a_down_smtp_server_is_retried_later_and_sent_once(void **state)
{
    (void)state;
    REQUIRE_PEERS();
    char token[17], subject[128], down_url[64];
    random_hex(token, 8);
    snprintf(subject, sizeof(subject), "Retry me %s", token);
    struct mail m = {.to = "bob@example.test", .subject = subject, .text = "hello"};
    queue_mail(&m);

    long long done0, failed0, retried0;
    jobs_stats(&done0, &failed0, &retried0);
    snprintf(down_url, sizeof(down_url), "smtp://127.0.0.1:%d", closed_port());
    g_config.smtp_url = down_url;
    g_config.job_backoff_seconds = 60; /* far enough ahead that no check below races it */
    assert_int_equal(jobs_run_one(), 1);

    assert_q1("queued", "SELECT status FROM jobs", 0, NULL);
    assert_q1("1", "SELECT attempts FROM jobs", 0, NULL);
    assert_q1("t",
              "SELECT run_at > now() + interval '50 seconds'"
              "   AND run_at <= now() + interval '61 seconds' FROM jobs",
              0, NULL);
    assert_q1("t", "SELECT last_error LIKE 'smtp:%' FROM jobs", 0, NULL);
    assert_q1("t", "SELECT sent_at IS NULL AND attempts = 1 AND last_error IS NOT NULL FROM outbox",
              0, NULL);
    long long done1, failed1, retried1;
    jobs_stats(&done1, &failed1, &retried1);
    assert_int_equal(retried1 - retried0, 1);
    assert_int_equal(failed1 - failed0, 0);

    /* Not due yet. */
    assert_int_equal(jobs_run_one(), 0);
    assert_int_equal(maildir_count(token, NULL), 0);

    /* The server is back and the retry is due. */
    g_config.smtp_url = T.sink_url;
    exec_ok("UPDATE jobs SET run_at = now()", 0, NULL);
    assert_int_equal(jobs_run_one(), 1);
    assert_int_equal(wait_for_mail(token, 1, NULL), 1);
    assert_q1("done", "SELECT status FROM jobs", 0, NULL);
    assert_q1("2", "SELECT attempts FROM jobs", 0, NULL);
    assert_q1("t", "SELECT sent_at IS NOT NULL AND attempts = 2 FROM outbox", 0, NULL);

    /* A second send_mail job for the same row (a duplicate) sends nothing. */
    char *id = q1("SELECT id FROM outbox", 0, NULL);
    assert_non_null(id);
    enqueue("send_mail", json_pack("{s:I}", "outbox_id", (json_int_t)strtoll(id, NULL, 10)));
    free(id);
    assert_int_equal(jobs_run_one(), 1);
    assert_int_equal(jobs_run_one(), 0);
    assert_int_equal(maildir_count(token, NULL), 1);
}

struct runner {
    pthread_t thread;
    int ran, errors;
};

/* Runs jobs until none is due (bounded). */
static void *run_until_empty(void *arg)
{
    struct runner *r = arg;
    for (int i = 0; i < 4 * COUNT_JOBS; i++) {
        int rc = jobs_run_one();
        if (rc == 1) {
            r->ran++;
        } else {
            if (rc < 0)
                r->errors++;
            break;
        }
    }
    return NULL;
}

static void test_two_concurrent_runners_run_each_job_exactly_once(void **state)
{
    (void)state;
    REQUIRE_PEERS();
    for (int i = 0; i < COUNT_JOBS; i++)
        enqueue("test_count", json_pack("{s:i}", "n", i));

    struct runner r[2] = {{0}};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&r[i].thread, NULL, run_until_empty, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(r[i].thread, NULL);

    assert_int_equal(r[0].errors + r[1].errors, 0);
    assert_int_equal(r[0].ran + r[1].ran, COUNT_JOBS);
    for (int i = 0; i < COUNT_JOBS; i++)
        if (atomic_load(&counts[i]) != 1)
            fail_msg("job n=%d ran %d times", i, atomic_load(&counts[i]));
    assert_q1("20",
              "SELECT count(*) FROM jobs WHERE kind = 'test_count' AND status = 'done'"
              "   AND attempts = 1 AND finished_at IS NOT NULL",
              0, NULL);
    print_message("runner A ran %d jobs, runner B %d\n", r[0].ran, r[1].ran);
}

static void test_job_that_always_fails_ends_failed_after_max_attempts(void **state)
{
    (void)state;
    REQUIRE_PEERS();
    long long done0, failed0, retried0;
    jobs_stats(&done0, &failed0, &retried0);
    enqueue("test_fail", json_pack("{s:s}", "why", "test"));
    assert_q1("3", "SELECT max_attempts FROM jobs", 0, NULL);

    int runs = 0;
    for (; runs < 10; runs++) {
        assert_int_equal(jobs_run_one(), 1);
        char *status = q1("SELECT status FROM jobs", 0, NULL);
        bool failed = status && strcmp(status, "failed") == 0;
        bool queued = status && strcmp(status, "queued") == 0;
        free(status);
        if (failed)
            break;
        assert_true(queued);
        assert_q1("t", "SELECT run_at > now() FROM jobs", 0, NULL);
        exec_ok("UPDATE jobs SET run_at = now()", 0, NULL);
    }
    assert_int_equal(runs + 1, 3);
    assert_q1("3", "SELECT attempts FROM jobs", 0, NULL);
    assert_q1("always fails", "SELECT last_error FROM jobs", 0, NULL);
    assert_q1("t", "SELECT finished_at IS NOT NULL FROM jobs", 0, NULL);
    /* Failed for good: never claimed again, even when "due". */
    exec_ok("UPDATE jobs SET run_at = now()", 0, NULL);
    assert_int_equal(jobs_run_one(), 0);

    long long done1, failed1, retried1;
    jobs_stats(&done1, &failed1, &retried1);
    assert_int_equal(failed1 - failed0, 1);
    assert_int_equal(retried1 - retried0, 2);
    assert_int_equal(done1 - done0, 0);
}

static void test_job_abandoned_by_a_dead_worker_runs_again(void **state)
{
    (void)state;
    REQUIRE_PEERS();
    /* Two rows a crashed process left 'running' 11 minutes ago: one with attempts
     * to spare, one that had used its last. A third was claimed a moment ago. */
    exec_ok("INSERT INTO jobs (kind, payload, status, attempts, max_attempts, locked_at, locked_by)"
            " VALUES ('test_count', '{\"n\": 3}', 'running', 1, 5,"
            "         now() - interval '11 minutes', 'dead:1'),"
            "        ('test_count', '{\"n\": 4}', 'running', 5, 5,"
            "         now() - interval '11 minutes', 'dead:1'),"
            "        ('test_count', '{\"n\": 5}', 'running', 1, 5, now(), 'alive:2')",
            0, NULL);
    assert_int_equal(jobs_run_one(), 1);
    assert_int_equal(jobs_run_one(), 0);
    assert_int_equal(atomic_load(&counts[3]), 1);
    assert_int_equal(atomic_load(&counts[4]), 0);
    assert_int_equal(atomic_load(&counts[5]), 0);
    assert_q1("done 2", "SELECT status || ' ' || attempts FROM jobs WHERE payload->>'n' = '3'", 0,
              NULL);
    assert_q1("t",
              "SELECT status = 'failed' AND last_error LIKE 'abandoned by dead:1%'"
              "  FROM jobs WHERE payload->>'n' = '4'",
              0, NULL);
    assert_q1("running", "SELECT status FROM jobs WHERE payload->>'n' = '5'", 0, NULL);
}

static void test_runner_thread_runs_due_jobs_and_stops_promptly(void **state)
{
    (void)state;
    REQUIRE_PEERS();
    g_config.job_poll_ms = 60000; /* jobs_stop must not wait for the poll interval */
    enqueue("test_count", json_pack("{s:i}", "n", 7));
    assert_int_equal(jobs_start(), 0);

    double deadline = now_ms() + WAIT_MS;
    char *status = NULL;
    for (;;) {
        status = q1("SELECT status FROM jobs", 0, NULL);
        if ((status && strcmp(status, "done") == 0) || now_ms() > deadline)
            break;
        free(status);
        usleep(POLL_MS * 1000);
    }
    bool done = status && strcmp(status, "done") == 0;
    free(status);

    double t0 = now_ms();
    jobs_stop();
    double stop_ms = now_ms() - t0;
    assert_true(done);
    assert_int_equal(atomic_load(&counts[7]), 1);
    if (stop_ms > 2000)
        fail_msg("jobs_stop took %.0f ms", stop_ms);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_queued_mail_is_delivered_with_its_recipient_and_subject,
                               test_setup),
        cmocka_unit_test_setup(test_mail_queued_in_a_rolled_back_transaction_is_never_sent,
                               test_setup),
        cmocka_unit_test_setup(test_mail_to_a_down_smtp_server_is_retried_later_and_sent_once,
                               test_setup),
        cmocka_unit_test_setup(test_two_concurrent_runners_run_each_job_exactly_once, test_setup),
        cmocka_unit_test_setup(test_job_that_always_fails_ends_failed_after_max_attempts,
                               test_setup),
        cmocka_unit_test_setup(test_job_abandoned_by_a_dead_worker_runs_again, test_setup),
        cmocka_unit_test_setup(test_runner_thread_runs_due_jobs_and_stops_promptly, test_setup),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
