/*
 * itest_harness.h — what every HTTP integration suite shares: a real
 * studiod started and stopped as a child process, an HTTP client on libcurl
 * that talks to it as a browser or an API client would, the sign-up and
 * sign-in steps most tests begin with, the SMTP sink's maildir, and direct
 * SQL on the test cluster for setting up and checking what HTTP cannot show.
 *
 * The environment comes from scripts/test: STUDIOD_BIN, STUDIOD_DATABASE_URL,
 * STUDIOD_TEST_MAILDIR, STUDIOD_TEST_PGDATA, STUDIOD_TEST_PG_BIN, SMTP_URL,
 * STUDIOD_HOME. itest_env_missing() names the first one that is not set, so a
 * suite can skip instead of failing obscurely.
 *
 * Every request leaves from a source address 127.x.y.z picked at random once
 * per test program (studiod listens on 127.0.0.1, and Linux routes all of
 * 127/8 to lo): login throttling counts failures per client address for 15
 * minutes, and one program's failed sign-ins must not throttle another's.
 *
 * Most suites share one studiod: itest_suite_setup / itest_suite_teardown
 * are their cmocka group fixtures, and ITEST_REQUIRE_SERVER() opens each test.
 *
 * Everything returned is owned by the caller and has one release:
 * itest_resp_free, free(), PQclear.
 */
#ifndef ITEST_HARNESS_H
#define ITEST_HARNESS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define ITEST_BASE_DOMAIN "localhost"
#define ITEST_POOL_WAIT_MS 1000 /* STUDIOD_POOL_WAIT_MS given to every studiod started here */
#define ITEST_MAX_HEADERS 64

/* A studiod serving HTTP on 127.0.0.1:port, its output in log. */
struct studiod_proc {
    pid_t pid; /* 0 once stopped */
    int port;
    char base[64]; /* "http://127.0.0.1:<port>" */
    char log[256]; /* /tmp/itest-<program>-<port>.log */
};

/* The one cookie studiod sets: the staff session. */
struct itest_cookies {
    char session[256]; /* studiod_session's value; "" when none */
};

struct itest_resp {
    long status;     /* 0 when no HTTP answer came (see error) */
    char error[256]; /* libcurl's message when status is 0 */
    char *body;      /* NUL-terminated (never NULL) */
    size_t body_len;
    json_t *json;       /* the body parsed, when Content-Type is JSON and it parses */
    char headers[8192]; /* the final response's header lines, as received */
    double seconds;     /* how long the exchange took */
    int nheaders;       /* parsed view of headers: */
    char hstore[8192];
    const char *hname[ITEST_MAX_HEADERS];
    const char *hvalue[ITEST_MAX_HEADERS];
};

/* Everything a request can vary; itest_request covers the usual cases. */
struct itest_req {
    const char *method;         /* GET, HEAD, POST, PUT, PATCH, DELETE, ... */
    const char *host;           /* Host without port (NULL: the bare base domain) */
    const char *path;           /* sent as is: no dot-segment removal */
    const char *content_type;   /* NULL: no Content-Type header */
    const char *body;           /* NULL: no body */
    size_t body_len;            /* 0 with a body: strlen(body) */
    bool chunked;               /* send the body with Transfer-Encoding: chunked */
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated (or NULL) */
    struct itest_cookies *jar;  /* sends its session; takes the Set-Cookie (or NULL) */
    long timeout_ms;            /* 0: 30 s */
};

/* Name of the first environment variable the suites need that is unset; NULL if all are. */
const char *itest_env_missing(void);

/* The studiod a suite's tests share, and the first variable it needs that is unset (the
 * tests then skip): both set by itest_suite_setup. */
extern struct studiod_proc itest_server;
extern const char *itest_missing_env;
/* cmocka group set-up: notes itest_missing_env, and when nothing is missing starts
 * itest_server (itest_start, no extra settings). 0, or -1 when it did not start. */
int itest_suite_setup(void **state);
/* cmocka group teardown: stops itest_server if it still runs. -1 when it did not exit 0
 * (an unclean exit, e.g. a leak found at exit, fails the suite), else 0. */
int itest_suite_teardown(void **state);
/* First thing in every test of such a suite (the file includes cmocka.h): skips the test
 * when a variable is missing. */
#define ITEST_REQUIRE_SERVER()                                                                     \
    do {                                                                                           \
        if (itest_missing_env) {                                                                   \
            print_message("skipped: %s is not set (run scripts/test)\n", itest_missing_env);       \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* Starts `$STUDIOD_BIN serve` on a free port with the test settings plus extra_env
 * ("NAME=value" strings, NULL-terminated, or NULL) and waits (≤ 15 s) until GET /healthz
 * answers 200. 0, or -1 after printing why and the log's path. */
int itest_start(struct studiod_proc *p, const char *const *extra_env);
/* SIGTERM, then waits for the exit. The exit status (0 = drained cleanly), 128 + signal
 * when a signal ended it, -1 when it did not stop within 30 s (it is then killed). */
int itest_stop(struct studiod_proc *p);
/* Waits up to timeout_ms for a studiod that is ending by itself; its status as in
 * itest_stop, or -2 when it still runs. */
int itest_wait_exit(struct studiod_proc *p, int timeout_ms);
/* Runs `$STUDIOD_BIN argv...` (argv NULL-terminated, without the program) with extra_env,
 * stdout captured into out (truncated, NUL-terminated). Its exit status, or -1. */
int itest_run_cli(const char *const *argv, const char *const *extra_env, char *out, size_t outlen);

/* One HTTP exchange with p. Never NULL; status 0 when no answer came. */
struct itest_resp *itest_send(const struct studiod_proc *p, const struct itest_req *rq);
/* The common case of itest_send. */
struct itest_resp *itest_request(const struct studiod_proc *p, const char *method, const char *host,
                                 const char *path, const char *content_type, const char *body,
                                 const char *const *extra_headers, struct itest_cookies *jar);
/* The n-th (from 0) value of header name (case-insensitive), or NULL. */
const char *itest_header_nth(const struct itest_resp *r, const char *name, int n);
/* The first value of header name, or NULL. */
const char *itest_header(const struct itest_resp *r, const char *name);
/* error.code of an error-shaped JSON body, or NULL when the body has not that shape. */
const char *itest_error_code(const struct itest_resp *r);
void itest_resp_free(struct itest_resp *r);

/* "<prefix>-<8 random [a-z0-9]>" into out (≥ 64 bytes): slugs that never collide. */
void itest_unique_slug(const char *prefix, char *out);
/* "<slug>.localhost" into out (≥ 128 bytes). */
const char *itest_studio_host(const char *slug, char *out);
/* The studio's database name: studio_<slug with '-' as '_'>, into out (≥ 80 bytes). */
const char *itest_studio_db(const char *slug, char *out);

/* A studio one test signs up for. */
struct itest_studio {
    char slug[64];   /* itest_unique_slug(prefix) */
    char email[128]; /* its owner: owner-<slug>@example.com */
    char host[128];  /* itest_studio_host */
    char db[80];     /* itest_studio_db */
    char url[160];   /* studio_url, as itest_signup_studio's 201 gives it; "" before */
};
/* Names a new studio whose slug starts with prefix (nothing is created). */
void itest_name_studio(const char *prefix, struct itest_studio *s);
/* itest_signup of s by its owner with password; studio_url lands in s->url. The HTTP status. */
int itest_signup_studio(const struct studiod_proc *p, struct itest_studio *s, const char *password);
/* POST /signup (JSON) with a name, owner "Owner <slug>", timezone Europe/Paris, EUR.
 * The HTTP status (0 when no answer); the body in *out_json if asked (json_decref it). */
int itest_signup(const struct studiod_proc *p, const char *slug, const char *email,
                 const char *password, json_t **out_json);
/* POST /login (JSON) on the studio's host; the session lands in jar and the CSRF token in
 * csrf_out (≥ 128 bytes) when asked. The HTTP status. */
int itest_login(const struct studiod_proc *p, const char *slug, const char *email,
                const char *password, struct itest_cookies *jar, char *csrf_out);

/* ---- a signed-in studio and its staff API (these fail the running cmocka test) ---- */

/* Names (prefix) and signs up a studio s with password, then signs its owner in: the
 * session in jar, the CSRF token in csrf (≥ 128 bytes). */
void itest_open_studio(const struct studiod_proc *p, const char *prefix, struct itest_studio *s,
                       const char *password, struct itest_cookies *jar, char *csrf);
/* The id of the user of s with this e-mail address into out (≥ 40 bytes). */
void itest_user_id(const struct itest_studio *s, const char *email, char *out);
/* method path on host with jar's session and, unless csrf is NULL, the X-CSRF-Token header;
 * body (text, or NULL for none) sent as application/json. */
struct itest_resp *itest_staff_send(const struct studiod_proc *p, const char *method,
                                    const char *host, const char *path, const char *body,
                                    struct itest_cookies *jar, const char *csrf);
/* itest_staff_send with a JSON body (stolen; NULL: none). */
struct itest_resp *itest_staff_request(const struct studiod_proc *p, const char *method,
                                       const char *host, const char *path, json_t *body,
                                       struct itest_cookies *jar, const char *csrf);
/* A room made in the studio's database (name, hourly rate in minor units): its id (free it).
 * No API call: for suites that need a room, not its audit entry. */
char *itest_add_room(const struct itest_studio *s, const char *name, long long hourly_rate);
/* A "YYYY-MM-DDTHH:MM:SS..." UTC time as seconds since the epoch (fails the test if not). */
time_t itest_parse_utc(const char *rfc3339);
/* hour:minute local time (zone tz) on the day `day` days from today there, as UTC
 * RFC 3339 into out (≥ 32 bytes). */
void itest_local_time(const char *tz, int day, int hour, int minute, char *out);
/* The local date (zone tz) `day` days from today, YYYY-MM-DD into out (≥ 16 bytes). */
void itest_local_day(const char *tz, int day, char *out);
/* Fails the test unless r has this status; frees r either way. */
#define itest_expect_status(r, status) itest_expect_status_((r), (status), __FILE__, __LINE__)
void itest_expect_status_(struct itest_resp *r, long status, const char *file, int line);
/* Fails the test unless r has this status and an error body with this code (NULL: any). */
#define itest_assert_error(r, status, code)                                                        \
    itest_assert_error_((r), (status), (code), __FILE__, __LINE__)
/* itest_assert_error, then frees r (either way). */
#define itest_expect_error(r, status, code)                                                        \
    itest_expect_error_((r), (status), (code), __FILE__, __LINE__)
void itest_expect_error_(struct itest_resp *r, long status, const char *code, const char *file,
                         int line);
/* Fails the test unless r is a 422 invalid_input whose error.fields names field. */
#define itest_assert_field(r, field) itest_assert_field_((r), (field), __FILE__, __LINE__)
void itest_assert_error_(const struct itest_resp *r, long status, const char *code,
                         const char *file, int line);
void itest_assert_field_(const struct itest_resp *r, const char *field, const char *file, int line);

/* Waits up to timeout_ms for a message to `to` (X-RcptTo or To:) in $STUDIOD_TEST_MAILDIR/new.
 * 0 with the raw message in *out (free it), or -1. */
int itest_wait_mail(const char *to, int timeout_ms, char **out);
/* itest_wait_mail for a message whose decoded text (itest_mail_text) holds needle. */
int itest_wait_mail_with(const char *to, const char *needle, int timeout_ms, char **out);
/* The message with its body quoted-printable-decoded (free it): what the reader sees. */
char *itest_mail_text(const char *raw);

/* SQL on the test cluster as the master URL's user; dbname NULL = the master database.
 * Parameters are text (const char *), the list ends by itself. */
#define itest_pg_query(dbname, ...) itest_pg_query_((dbname), __VA_ARGS__, (const char *)NULL)
/* The first column of the first row (free it); NULL for no row, SQL NULL or an error. */
#define itest_pg_value(dbname, ...) itest_pg_first_(itest_pg_query(dbname, __VA_ARGS__))
/* 0, or -1 after printing the error. */
#define itest_pg_exec(dbname, ...) itest_pg_ok_(itest_pg_query(dbname, __VA_ARGS__))
/* The result (PQclear it), or NULL after printing the error. */
PGresult *itest_pg_query_(const char *dbname, const char *sql, ...);
/* What itest_pg_value and itest_pg_exec make of a result (which they PQclear). */
char *itest_pg_first_(PGresult *r);
int itest_pg_ok_(PGresult *r);

/* The first column of the first row of stmt with one parameter arg (or none: NULL), which
 * must exist: the test fails otherwise (free it). */
#define itest_pg_one(db, stmt, arg) itest_pg_one_((db), (stmt), (arg), __FILE__, __LINE__)
char *itest_pg_one_(const char *db, const char *stmt, const char *arg, const char *file, int line);
/* Fails the test unless itest_pg_one(db, stmt, arg) is want. */
#define itest_pg_expect(db, stmt, arg, want)                                                       \
    itest_pg_expect_((db), (stmt), (arg), (want), __FILE__, __LINE__)
void itest_pg_expect_(const char *db, const char *stmt, const char *arg, const char *want,
                      const char *file, int line);

/* o's string member key, or the test fails. */
#define itest_json_str(o, key) itest_json_str_((o), (key), __FILE__, __LINE__)
const char *itest_json_str_(json_t *o, const char *key, const char *file, int line);
/* o's integer member key, or the test fails. */
#define itest_json_int(o, key) itest_json_int_((o), (key), __FILE__, __LINE__)
long long itest_json_int_(json_t *o, const char *key, const char *file, int line);

/* Runs `pg_ctl -D $STUDIOD_TEST_PGDATA <action>` as the postgres user: "stop" (fast, waits)
 * or "start" (waits, log in the cluster's server.log). The exit status. */
int itest_pg_ctl(const char *action);
/* True when the test cluster runs (pg_ctl status). */
bool itest_pg_running(void);

/* Milliseconds on a monotonic clock. */
double itest_now_ms(void);
/* Sleeps ms milliseconds: only between the tries of a bounded polling loop. */
void itest_pause_ms(int ms);

#endif
