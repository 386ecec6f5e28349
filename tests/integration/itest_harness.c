/*
 * itest_harness.c — the shared harness of the HTTP integration suites (see
 * itest_harness.h): child studiod processes, the libcurl client, sign-up and
 * sign-in helpers, the maildir and direct SQL.
 *
 * Waiting is always a bounded polling loop on the condition itself (the
 * server answers, the mail file exists, the process exited); no fixed sleep
 * stands in for a condition. A studiod started here gets PR_SET_PDEATHSIG, so
 * a test program that crashes does not leave servers behind.
 */
#include "itest_harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka.h needs these first */
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

extern char **environ;

#define START_TIMEOUT_MS 15000
#define STOP_TIMEOUT_MS 30000 /* studiod drains for at most 20 s */
#define CLI_TIMEOUT_MS 120000
#define POLL_MS 50
#define REQUEST_TIMEOUT_MS 30000
#define CONNECT_TIMEOUT_MS 5000
#define MAX_PG_PARAMS 16
#define LOG_TAIL_BYTES 4000

struct growbuf {
    char *data;
    size_t len, cap;
};

struct upload {
    const char *data;
    size_t len, pos;
};

struct studiod_proc itest_server;
const char *itest_missing_env;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static char source_interface[64]; /* "host!127.x.y.z", or "" to let the kernel choose */

static void harness_init(void);
static void growbuf_add(struct growbuf *b, const char *data, size_t n);
static size_t on_body(char *data, size_t size, size_t n, void *userdata);
static size_t on_header(char *data, size_t size, size_t n, void *userdata);
static size_t on_upload(char *dest, size_t size, size_t n, void *userdata);
static void parse_headers(struct itest_resp *r);
static void take_cookie(const struct itest_resp *r, struct itest_cookies *jar);
static int free_port(void);
static char **make_env(const char *const *overrides, const char *const *extra);
static void free_strv(char **v);
static int status_of(int wstatus);
static void print_log_tail(const char *path);
static char *read_whole(const char *path);
static bool mail_is_for(const char *msg, const char *to);
static PGconn *pg_connect(const char *dbname);
static void pg_quiet(void *arg, const char *message);
static int run_and_wait(const char *const *argv, int stdout_fd, const char *cwd);

/* ---- small things ---------------------------------------------------------------------- */

double itest_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void itest_pause_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

const char *itest_env_missing(void)
{
    static const char *const needed[] = {"STUDIOD_BIN",          "STUDIOD_DATABASE_URL",
                                         "STUDIOD_TEST_MAILDIR", "STUDIOD_TEST_PGDATA",
                                         "STUDIOD_TEST_PG_BIN",  NULL};
    for (const char *const *n = needed; *n; n++)
        if (!getenv(*n) || !*getenv(*n))
            return *n;
    return NULL;
}

int itest_suite_setup(void **state)
{
    (void)state;
    itest_missing_env = itest_env_missing();
    if (itest_missing_env)
        return 0;
    return itest_start(&itest_server, NULL);
}

int itest_suite_teardown(void **state)
{
    (void)state;
    if (itest_server.pid > 0 && itest_stop(&itest_server) != 0)
        return -1;
    return 0;
}

/* libcurl once per process, and the source address this program's requests use. */
static void harness_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    unsigned char rnd[3];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return;
    char ip[32];
    snprintf(ip, sizeof(ip), "127.%u.%u.%u", 1u + rnd[0] % 254u, (unsigned)rnd[1],
             1u + rnd[2] % 254u);
    /* Use it only if the kernel lets us bind it (it does on Linux's lo). */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (fd >= 0 && inet_pton(AF_INET, ip, &a.sin_addr) == 1 &&
        bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
        snprintf(source_interface, sizeof(source_interface), "host!%s", ip);
    if (fd >= 0)
        close(fd);
}

void itest_unique_slug(const char *prefix, char *out)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        abort();
    char suffix[9];
    for (size_t i = 0; i < sizeof(rnd); i++)
        suffix[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
    suffix[8] = '\0';
    snprintf(out, 64, "%.30s-%s", prefix, suffix);
}

const char *itest_studio_host(const char *slug, char *out)
{
    snprintf(out, 128, "%s.%s", slug, ITEST_BASE_DOMAIN);
    return out;
}

const char *itest_studio_db(const char *slug, char *out)
{
    snprintf(out, 80, "studio_%s", slug);
    for (char *c = out; *c; c++)
        if (*c == '-')
            *c = '_';
    return out;
}

void itest_name_studio(const char *prefix, struct itest_studio *s)
{
    memset(s, 0, sizeof(*s));
    itest_unique_slug(prefix, s->slug);
    snprintf(s->email, sizeof(s->email), "owner-%s@example.com", s->slug);
    itest_studio_host(s->slug, s->host);
    itest_studio_db(s->slug, s->db);
}

static void growbuf_add(struct growbuf *b, const char *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            abort();
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static int status_of(int wstatus)
{
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus))
        return 128 + WTERMSIG(wstatus);
    return -1;
}

static char *read_whole(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct growbuf b = {0};
    char chunk[8192];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        growbuf_add(&b, chunk, (size_t)n);
    close(fd);
    if (!b.data)
        growbuf_add(&b, "", 0);
    return b.data;
}

static void print_log_tail(const char *path)
{
    char *text = read_whole(path);
    if (!text) {
        fprintf(stderr, "itest: (no log at %s)\n", path);
        return;
    }
    size_t n = strlen(text);
    const char *from = n > LOG_TAIL_BYTES ? text + n - LOG_TAIL_BYTES : text;
    fprintf(stderr, "itest: ---- end of %s ----\n%s\nitest: ---- (log: %s) ----\n", path, from,
            path);
    free(text);
}

/* ---- processes ------------------------------------------------------------------------- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* environ with every NAME in overrides and extra replaced by their values. */
static char **make_env(const char *const *overrides, const char *const *extra)
{
    size_t n = 0, k = 0;
    for (char **e = environ; *e; e++)
        n++;
    for (const char *const *o = overrides; o && *o; o++)
        n++;
    for (const char *const *o = extra; o && *o; o++)
        n++;
    char **env = calloc(n + 1, sizeof(*env));
    if (!env)
        abort();
    for (char **e = environ; *e; e++) {
        size_t klen = strcspn(*e, "=");
        bool replaced = false;
        for (int pass = 0; pass < 2 && !replaced; pass++)
            for (const char *const *o = pass ? extra : overrides; o && *o; o++)
                if (strncmp(*o, *e, klen) == 0 && (*o)[klen] == '=')
                    replaced = true;
        if (!replaced)
            env[k++] = strdup(*e);
    }
    for (const char *const *o = overrides; o && *o; o++)
        env[k++] = strdup(*o);
    for (const char *const *o = extra; o && *o; o++)
        env[k++] = strdup(*o);
    env[k] = NULL;
    for (size_t i = 0; i < k; i++)
        if (!env[i])
            abort();
    return env;
}

static void free_strv(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

int itest_start(struct studiod_proc *p, const char *const *extra_env)
{
    pthread_once(&init_once, harness_init);
    memset(p, 0, sizeof(*p));
    const char *bin = getenv("STUDIOD_BIN");
    if (!bin || !*bin) {
        fprintf(stderr, "itest: STUDIOD_BIN is not set\n");
        return -1;
    }
    p->port = free_port();
    if (p->port < 0) {
        fprintf(stderr, "itest: no free port: %s\n", strerror(errno));
        return -1;
    }
    snprintf(p->base, sizeof(p->base), "http://127.0.0.1:%d", p->port);
    snprintf(p->log, sizeof(p->log), "/tmp/itest-%s-%d.log", program_invocation_short_name,
             p->port);

    char port_var[32];
    snprintf(port_var, sizeof(port_var), "STUDIOD_PORT=%d", p->port);
    char wait_var[48];
    snprintf(wait_var, sizeof(wait_var), "STUDIOD_POOL_WAIT_MS=%d", ITEST_POOL_WAIT_MS);
    const char *const settings[] = {port_var,
                                    "STUDIOD_BIND=127.0.0.1",
                                    "STUDIOD_BASE_DOMAIN=" ITEST_BASE_DOMAIN,
                                    "STUDIOD_JOB_POLL_MS=100",
                                    "STUDIOD_JOB_BACKOFF_SECONDS=1",
                                    wait_var,
                                    NULL};
    char **env = make_env(settings, extra_env);
    char *const argv[] = {(char *)bin, "serve", NULL};
    int logfd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (logfd < 0 || nullfd < 0) {
        fprintf(stderr, "itest: cannot open %s: %s\n", p->log, strerror(errno));
        if (logfd >= 0)
            close(logfd);
        if (nullfd >= 0)
            close(nullfd);
        free_strv(env);
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(nullfd, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(126);
        execve(bin, argv, env);
        _exit(127);
    }
    close(logfd);
    close(nullfd);
    free_strv(env);
    if (pid < 0) {
        fprintf(stderr, "itest: fork: %s\n", strerror(errno));
        return -1;
    }
    p->pid = pid;

    double deadline = itest_now_ms() + START_TIMEOUT_MS;
    for (;;) {
        int ws;
        if (waitpid(pid, &ws, WNOHANG) == pid) {
            p->pid = 0;
            fprintf(stderr, "itest: studiod exited (status %d) before answering /healthz\n",
                    status_of(ws));
            print_log_tail(p->log);
            return -1;
        }
        struct itest_req rq = {.method = "GET", .path = "/healthz", .timeout_ms = 1000};
        struct itest_resp *r = itest_send(p, &rq);
        long status = r->status;
        itest_resp_free(r);
        if (status == 200)
            return 0;
        if (itest_now_ms() > deadline)
            break;
        itest_pause_ms(POLL_MS);
    }
    fprintf(stderr, "itest: studiod did not answer /healthz with 200 within %d ms\n",
            START_TIMEOUT_MS);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    p->pid = 0;
    print_log_tail(p->log);
    return -1;
}

int itest_wait_exit(struct studiod_proc *p, int timeout_ms)
{
    if (p->pid <= 0)
        return -1;
    pid_t pid = p->pid;
    double deadline = itest_now_ms() + timeout_ms;
    for (;;) {
        int ws = 0;
        pid_t w = waitpid(pid, &ws, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR)) {
            p->pid = 0;
            return w == pid ? status_of(ws) : -1;
        }
        if (itest_now_ms() > deadline)
            return -2;
        itest_pause_ms(20);
    }
}

int itest_stop(struct studiod_proc *p)
{
    if (p->pid <= 0)
        return -1;
    pid_t pid = p->pid;
    kill(pid, SIGTERM);
    int st = itest_wait_exit(p, STOP_TIMEOUT_MS);
    if (st == -2) {
        fprintf(stderr, "itest: studiod (pid %d) still runs %d ms after SIGTERM; killing it\n",
                (int)pid, STOP_TIMEOUT_MS);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        p->pid = 0;
        st = -1;
    }
    if (st != 0) {
        fprintf(stderr, "itest: studiod on port %d ended with status %d\n", p->port, st);
        print_log_tail(p->log);
    }
    return st;
}

/* Runs argv (argv[0] a path, or a name looked up in PATH) from cwd, stdout to stdout_fd
 * (-1: inherited), and waits. The exit status, or -1. */
static int run_and_wait(const char *const *argv, int stdout_fd, const char *cwd)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (stdout_fd >= 0)
            dup2(stdout_fd, 1);
        if (cwd && chdir(cwd) != 0)
            _exit(126);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (pid < 0)
        return -1;
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR)
            return -1;
    return status_of(ws);
}

int itest_run_cli(const char *const *argv, const char *const *extra_env, char *out, size_t outlen)
{
    const char *bin = getenv("STUDIOD_BIN");
    if (!bin || !*bin || outlen == 0)
        return -1;
    out[0] = '\0';
    size_t n = 0;
    while (argv[n])
        n++;
    char **args = calloc(n + 2, sizeof(*args));
    if (!args)
        abort();
    args[0] = (char *)bin;
    for (size_t i = 0; i < n; i++)
        args[i + 1] = (char *)argv[i];
    char **env = make_env(NULL, extra_env);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        free(args);
        free_strv(env);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        execve(bin, args, env);
        _exit(127);
    }
    close(fds[1]);
    free(args);
    free_strv(env);
    if (pid < 0) {
        close(fds[0]);
        return -1;
    }
    size_t used = 0;
    double deadline = itest_now_ms() + CLI_TIMEOUT_MS;
    bool timed_out = false;
    for (;;) {
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int left = (int)(deadline - itest_now_ms());
        if (left <= 0) {
            timed_out = true;
            break;
        }
        int pr = poll(&pfd, 1, left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            timed_out = pr == 0;
            break;
        }
        char chunk[4096];
        ssize_t got = read(fds[0], chunk, sizeof(chunk));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        size_t keep = (size_t)got;
        if (used + keep > outlen - 1)
            keep = outlen - 1 - used; /* keep draining so the child never blocks */
        memcpy(out + used, chunk, keep);
        used += keep;
        out[used] = '\0';
    }
    close(fds[0]);
    if (timed_out) {
        fprintf(stderr, "itest: `studiod %s` ran longer than %d ms; killing it\n", argv[0],
                CLI_TIMEOUT_MS);
        kill(pid, SIGKILL);
    }
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR)
            return -1;
    return timed_out ? -1 : status_of(ws);
}

/* ---- HTTP ------------------------------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
    growbuf_add(userdata, data, size * n);
    return size * n;
}

/* Keeps the header lines of the last response (a 100 Continue comes first sometimes). */
static size_t on_header(char *data, size_t size, size_t n, void *userdata)
{
    struct itest_resp *r = userdata;
    size_t len = size * n;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
        r->headers[0] = '\0';
    size_t used = strlen(r->headers);
    size_t room = sizeof(r->headers) - 1 - used;
    size_t keep = len < room ? len : room;
    memcpy(r->headers + used, data, keep);
    r->headers[used + keep] = '\0';
    return len;
}

static size_t on_upload(char *dest, size_t size, size_t n, void *userdata)
{
    struct upload *u = userdata;
    size_t room = size * n, left = u->len - u->pos;
    size_t give = left < room ? left : room;
    if (give > 65536)
        give = 65536; /* several chunks, like a streaming client */
    memcpy(dest, u->data + u->pos, give);
    u->pos += give;
    return give;
}

static void parse_headers(struct itest_resp *r)
{
    memcpy(r->hstore, r->headers, sizeof(r->hstore));
    r->nheaders = 0;
    char *save = NULL;
    for (char *line = strtok_r(r->hstore, "\r\n", &save); line;
         line = strtok_r(NULL, "\r\n", &save)) {
        char *colon = strchr(line, ':');
        if (!colon || strncmp(line, "HTTP/", 5) == 0 || r->nheaders == ITEST_MAX_HEADERS)
            continue;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        char *end = v + strlen(v);
        while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        r->hname[r->nheaders] = line;
        r->hvalue[r->nheaders] = v;
        r->nheaders++;
    }
}

const char *itest_header_nth(const struct itest_resp *r, const char *name, int n)
{
    for (int i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->hname[i], name) == 0 && n-- == 0)
            return r->hvalue[i];
    return NULL;
}

const char *itest_header(const struct itest_resp *r, const char *name)
{
    return itest_header_nth(r, name, 0);
}

const char *itest_error_code(const struct itest_resp *r)
{
    json_t *err = json_object_get(r->json, "error");
    json_t *code = json_object_get(err, "code");
    json_t *message = json_object_get(err, "message");
    if (!json_is_string(code) || !json_is_string(message))
        return NULL;
    return json_string_value(code);
}

/* The studiod_session cookie of the response, if any, into jar. */
static void take_cookie(const struct itest_resp *r, struct itest_cookies *jar)
{
    static const char prefix[] = "studiod_session=";
    const char *v;
    for (int i = 0; (v = itest_header_nth(r, "Set-Cookie", i)); i++) {
        if (strncmp(v, prefix, sizeof(prefix) - 1) != 0)
            continue;
        v += sizeof(prefix) - 1;
        size_t len = strcspn(v, ";");
        if (len == 0 || len >= sizeof(jar->session) || strcasestr(v, "Max-Age=0"))
            jar->session[0] = '\0';
        else
            snprintf(jar->session, sizeof(jar->session), "%.*s", (int)len, v);
    }
}

struct itest_resp *itest_send(const struct studiod_proc *p, const struct itest_req *rq)
{
    pthread_once(&init_once, harness_init);
    struct itest_resp *r = calloc(1, sizeof(*r));
    CURL *c = curl_easy_init();
    if (!r || !c)
        abort();
    struct growbuf body = {0};
    struct curl_slist *hl = NULL;
    char line[1024];
    const char *host = rq->host ? rq->host : ITEST_BASE_DOMAIN;
    snprintf(line, sizeof(line), "Host: %s:%d", host, p->port);
    hl = curl_slist_append(hl, line);
    hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip unless asked */
    if (rq->content_type) {
        snprintf(line, sizeof(line), "Content-Type: %s", rq->content_type);
        hl = curl_slist_append(hl, line);
    } else {
        hl = curl_slist_append(hl, "Content-Type:"); /* not libcurl's default form type */
    }
    if (rq->jar && rq->jar->session[0]) {
        snprintf(line, sizeof(line), "Cookie: studiod_session=%s", rq->jar->session);
        hl = curl_slist_append(hl, line);
    }
    if (rq->chunked)
        hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
    for (const char *const *h = rq->headers; h && *h; h++)
        hl = curl_slist_append(hl, *h);

    char url[2048];
    snprintf(url, sizeof(url), "%s%s", p->base, rq->path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     rq->timeout_ms > 0 ? rq->timeout_ms : (long)REQUEST_TIMEOUT_MS);
    if (source_interface[0])
        curl_easy_setopt(c, CURLOPT_INTERFACE, source_interface);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->error);

    const char *method = rq->method ? rq->method : "GET";
    struct upload up = {0};
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (rq->body && rq->chunked) {
        up.data = rq->body;
        up.len = rq->body_len ? rq->body_len : strlen(rq->body);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_upload);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
    } else if (rq->body || strcmp(method, "GET") != 0) {
        const char *b = rq->body ? rq->body : "";
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, b);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(rq->body && rq->body_len ? rq->body_len : strlen(b)));
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 && strcmp(method, "POST") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);

    double t0 = itest_now_ms();
    CURLcode rc = curl_easy_perform(c);
    r->seconds = (itest_now_ms() - t0) / 1e3;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    } else {
        r->status = 0;
        if (!r->error[0])
            snprintf(r->error, sizeof(r->error), "%s", curl_easy_strerror(rc));
        long code = 0;
        /* A response that came before the upload failed still counts (an early 413). */
        if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code > 0 &&
            (rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR))
            r->status = code;
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);

    if (!body.data)
        growbuf_add(&body, "", 0);
    r->body = body.data;
    r->body_len = body.len;
    parse_headers(r);
    const char *ct = itest_header(r, "Content-Type");
    if (ct && strcasestr(ct, "json") && r->body_len)
        r->json = json_loadb(r->body, r->body_len, 0, NULL);
    if (rq->jar)
        take_cookie(r, rq->jar);
    return r;
}

struct itest_resp *itest_request(const struct studiod_proc *p, const char *method, const char *host,
                                 const char *path, const char *content_type, const char *body,
                                 const char *const *extra_headers, struct itest_cookies *jar)
{
    struct itest_req rq = {.method = method,
                           .host = host,
                           .path = path,
                           .content_type = content_type,
                           .body = body,
                           .headers = extra_headers,
                           .jar = jar};
    return itest_send(p, &rq);
}

void itest_resp_free(struct itest_resp *r)
{
    if (!r)
        return;
    json_decref(r->json);
    free(r->body);
    free(r);
}

/* ---- sign-up and sign-in --------------------------------------------------------------- */

int itest_signup(const struct studiod_proc *p, const char *slug, const char *email,
                 const char *password, json_t **out_json)
{
    char studio_name[128], owner_name[128];
    snprintf(studio_name, sizeof(studio_name), "Studio %s", slug);
    snprintf(owner_name, sizeof(owner_name), "Owner %s", slug);
    json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "studio_name", studio_name,
                            "slug", slug, "owner_name", owner_name, "owner_email", email,
                            "password", password, "timezone", "Europe/Paris", "currency", "EUR");
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body)
        abort();
    struct itest_resp *r =
        itest_request(p, "POST", NULL, "/signup", "application/json", body, NULL, NULL);
    free(body);
    int status = (int)r->status;
    if (status != 201)
        fprintf(stderr, "itest: signup %s: %d %s%s\n", slug, status, r->body, r->error);
    if (out_json)
        *out_json = json_incref(r->json);
    itest_resp_free(r);
    return status;
}

int itest_signup_studio(const struct studiod_proc *p, struct itest_studio *s, const char *password)
{
    json_t *j = NULL;
    int status = itest_signup(p, s->slug, s->email, password, &j);
    const char *url = json_string_value(json_object_get(j, "studio_url"));
    snprintf(s->url, sizeof(s->url), "%s", url ? url : "");
    json_decref(j);
    return status;
}

int itest_login(const struct studiod_proc *p, const char *slug, const char *email,
                const char *password, struct itest_cookies *jar, char *csrf_out)
{
    char host[128];
    json_t *req = json_pack("{s:s, s:s}", "email", email, "password", password);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body)
        abort();
    struct itest_resp *r = itest_request(p, "POST", itest_studio_host(slug, host), "/login",
                                         "application/json", body, NULL, jar);
    free(body);
    int status = (int)r->status;
    if (csrf_out) {
        const char *t = json_string_value(json_object_get(r->json, "csrf_token"));
        snprintf(csrf_out, 128, "%s", t ? t : "");
    }
    itest_resp_free(r);
    return status;
}

/* ---- mail ------------------------------------------------------------------------------ */

/* True when an X-RcptTo: or To: header of msg names the address to. */
static bool mail_is_for(const char *msg, const char *to)
{
    const char *end = strstr(msg, "\r\n\r\n");
    if (!end)
        end = strstr(msg, "\n\n");
    if (!end)
        end = msg + strlen(msg);
    for (const char *line = msg; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        size_t len = eol ? (size_t)(eol - line) : (size_t)(end - line);
        if ((len > 9 && strncasecmp(line, "X-RcptTo:", 9) == 0) ||
            (len > 3 && strncasecmp(line, "To:", 3) == 0)) {
            char buf[1024];
            snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
            if (strcasestr(buf, to))
                return true;
        }
        if (!eol)
            break;
        line = eol + 1;
    }
    return false;
}

int itest_wait_mail(const char *to, int timeout_ms, char **out)
{
    return itest_wait_mail_with(to, NULL, timeout_ms, out);
}

/* The message's decoded text holds needle (NULL: any message). */
static bool mail_has(const char *msg, const char *needle)
{
    if (!needle)
        return true;
    char *text = itest_mail_text(msg);
    bool found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

int itest_wait_mail_with(const char *to, const char *needle, int timeout_ms, char **out)
{
    const char *maildir = getenv("STUDIOD_TEST_MAILDIR");
    if (!maildir)
        return -1;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/new", maildir);
    double deadline = itest_now_ms() + timeout_ms;
    for (;;) {
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char path[8192];
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            char *msg = read_whole(path);
            if (msg && mail_is_for(msg, to) && mail_has(msg, needle)) {
                closedir(d);
                *out = msg;
                return 0;
            }
            free(msg);
        }
        if (d)
            closedir(d);
        if (itest_now_ms() > deadline)
            return -1;
        itest_pause_ms(100);
    }
}

char *itest_mail_text(const char *raw)
{
    /* The sink may store lines ending in LF or CRLF. */
    const char *crlf = strstr(raw, "\r\n\r\n"), *lf = strstr(raw, "\n\n");
    const char *body = raw + strlen(raw);
    if (crlf && (!lf || crlf < lf))
        body = crlf + 4;
    else if (lf)
        body = lf + 2;
    size_t n = strlen(raw);
    char *out = malloc(n + 1);
    if (!out)
        abort();
    size_t head = (size_t)(body - raw), o = head;
    memcpy(out, raw, head);
    for (const char *s = body; *s;) {
        if (s[0] == '=' && s[1] == '\r' && s[2] == '\n') {
            s += 3; /* soft line break */
        } else if (s[0] == '=' && s[1] == '\n') {
            s += 2;
        } else if (s[0] == '=' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
            const char hex[3] = {s[1], s[2], '\0'};
            out[o++] = (char)strtol(hex, NULL, 16);
            s += 3;
        } else {
            out[o++] = *s++;
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- PostgreSQL ------------------------------------------------------------------------ */

static void pg_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* The master URL with its database replaced by dbname: a later "dbname" keyword overrides
 * the one the URL expands to, and libpq skips a keyword whose value is NULL. */
static PGconn *pg_connect(const char *dbname)
{
    const char *url = getenv("STUDIOD_DATABASE_URL");
    if (!url) {
        fprintf(stderr, "itest: STUDIOD_DATABASE_URL is not set\n");
        return NULL;
    }
    const char *const keys[] = {"dbname", "dbname", "connect_timeout", NULL};
    const char *const values[] = {url, dbname, "5", NULL};
    PGconn *c = PQconnectdbParams(keys, values, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "itest: cannot connect to %s: %s", dbname ? dbname : "the master database",
                PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, pg_quiet, NULL);
    return c;
}

PGresult *itest_pg_query_(const char *dbname, const char *sql, ...)
{
    const char *params[MAX_PG_PARAMS];
    int n = 0;
    va_list ap;
    va_start(ap, sql);
    for (const char *v = va_arg(ap, const char *); v; v = va_arg(ap, const char *)) {
        if (n == MAX_PG_PARAMS)
            abort();
        params[n++] = v;
    }
    va_end(ap);
    PGconn *c = pg_connect(dbname);
    if (!c)
        return NULL;
    PGresult *r = n ? PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0) : PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        fprintf(stderr, "itest: SQL failed: %s  in: %s\n", PQresultErrorMessage(r), sql);
        PQclear(r);
        r = NULL;
    }
    PQfinish(c);
    return r;
}

char *itest_pg_first_(PGresult *r)
{
    char *v = NULL;
    if (r && PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0)) {
        v = strdup(PQgetvalue(r, 0, 0));
        if (!v)
            abort();
    }
    PQclear(r);
    return v;
}

int itest_pg_ok_(PGresult *r)
{
    int rc = r ? 0 : -1;
    PQclear(r);
    return rc;
}

int itest_pg_ctl(const char *action)
{
    const char *bin = getenv("STUDIOD_TEST_PG_BIN");
    const char *data = getenv("STUDIOD_TEST_PGDATA");
    if (!bin || !data)
        return -1;
    char pg_ctl[4096], logfile[4096];
    snprintf(pg_ctl, sizeof(pg_ctl), "%s/pg_ctl", bin);
    snprintf(logfile, sizeof(logfile), "%s/server.log", data);
    /* The same way scripts/pg.sh runs it: as the cluster's owner, from "/". The port and
     * socket settings live in the cluster's configuration (studiod.conf). */
    const char *args[20];
    int n = 0;
    if (geteuid() == 0) {
        args[n++] = "runuser";
        args[n++] = "-u";
        args[n++] = "postgres";
        args[n++] = "--";
    }
    args[n++] = pg_ctl;
    args[n++] = "-D";
    args[n++] = data;
    if (strcmp(action, "stop") == 0) {
        args[n++] = "-m";
        args[n++] = "fast";
    } else if (strcmp(action, "start") == 0) {
        args[n++] = "-l";
        args[n++] = logfile;
    }
    if (strcmp(action, "status") != 0) {
        args[n++] = "-w";
        args[n++] = "-t";
        args[n++] = "60";
    }
    args[n++] = action;
    args[n] = NULL;
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    int st = run_and_wait(args, devnull, "/");
    if (devnull >= 0)
        close(devnull);
    return st;
}

bool itest_pg_running(void)
{
    return itest_pg_ctl("status") == 0;
}

/* ---- a signed-in studio and its staff API -------------------------------------------------- */

/* What cmocka's fail_msg does, at the caller's line. */
static void fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

static void fail_at(const char *file, int line, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    print_error("ERROR: %s\n", msg);
    _fail(file, line);
    abort(); /* _fail does not return */
}

void itest_open_studio(const struct studiod_proc *p, const char *prefix, struct itest_studio *s,
                       const char *password, struct itest_cookies *jar, char *csrf)
{
    itest_name_studio(prefix, s);
    int status = itest_signup_studio(p, s, password);
    if (status != 201)
        fail_at(__FILE__, __LINE__, "signup of %s: %d", s->slug, status);
    memset(jar, 0, sizeof(*jar));
    status = itest_login(p, s->slug, s->email, password, jar, csrf);
    if (status != 200 || !csrf[0])
        fail_at(__FILE__, __LINE__, "login to %s: %d", s->slug, status);
}

void itest_user_id(const struct itest_studio *s, const char *email, char *out)
{
    char *id = itest_pg_value(s->db, "SELECT id FROM users WHERE email = $1", email);
    if (!id)
        fail_at(__FILE__, __LINE__, "no user %s in %s", email, s->slug);
    snprintf(out, 40, "%s", id);
    free(id);
}

struct itest_resp *itest_staff_send(const struct studiod_proc *p, const char *method,
                                    const char *host, const char *path, const char *body,
                                    struct itest_cookies *jar, const char *csrf)
{
    char hdr[200];
    snprintf(hdr, sizeof(hdr), "X-CSRF-Token: %s", csrf ? csrf : "");
    const char *headers[] = {hdr, NULL};
    return itest_request(p, method, host, path, body ? "application/json" : NULL, body,
                         csrf ? headers : NULL, jar);
}

struct itest_resp *itest_staff_request(const struct studiod_proc *p, const char *method,
                                       const char *host, const char *path, json_t *body,
                                       struct itest_cookies *jar, const char *csrf)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (body && !text)
        fail_at(__FILE__, __LINE__, "%s %s: the body does not encode", method, path);
    struct itest_resp *r = itest_staff_send(p, method, host, path, text, jar, csrf);
    free(text);
    return r;
}

char *itest_add_room(const struct itest_studio *s, const char *name, long long hourly_rate)
{
    char rate[32];
    snprintf(rate, sizeof(rate), "%lld", hourly_rate);
    char *id = itest_pg_value(s->db,
                              "INSERT INTO rooms (name, hourly_rate) VALUES ($1, $2::bigint)"
                              " RETURNING id",
                              name, rate);
    if (!id)
        fail_at(__FILE__, __LINE__, "room %s in %s", name, s->slug);
    return id;
}

time_t itest_parse_utc(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!end)
        fail_at(__FILE__, __LINE__, "not an RFC 3339 time: %s", s ? s : "(null)");
    return timegm(&tm);
}

void itest_local_time(const char *tz, int day, int hour, int minute, char *out)
{
    char d[16], h[16], m[16];
    snprintf(d, sizeof(d), "%d", day);
    snprintf(h, sizeof(h), "%d", hour);
    snprintf(m, sizeof(m), "%d", minute);
    char *v = itest_pg_value(NULL,
                             "SELECT to_char(((((now() AT TIME ZONE $4)::date + $1::int)"
                             "                 + make_interval(hours => $2::int, mins => $3::int))"
                             "                AT TIME ZONE $4) AT TIME ZONE 'UTC',"
                             "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                             d, h, m, tz);
    if (!v)
        fail_at(__FILE__, __LINE__, "local time %d %02d:%02d in %s", day, hour, minute, tz);
    snprintf(out, 32, "%s", v);
    free(v);
}

void itest_local_day(const char *tz, int day, char *out)
{
    char d[16];
    snprintf(d, sizeof(d), "%d", day);
    char *v = itest_pg_value(
        NULL, "SELECT to_char((now() AT TIME ZONE $2)::date + $1::int, 'YYYY-MM-DD')", d, tz);
    if (!v)
        fail_at(__FILE__, __LINE__, "local day %d in %s", day, tz);
    snprintf(out, 16, "%s", v);
    free(v);
}

void itest_expect_status_(struct itest_resp *r, long status, const char *file, int line)
{
    if (r->status == status) {
        itest_resp_free(r);
        return;
    }
    char got[1024];
    snprintf(got, sizeof(got), "%ld: %.400s%.256s", r->status, r->body, r->error);
    itest_resp_free(r);
    fail_at(file, line, "expected %ld, got %s", status, got);
}

void itest_assert_error_(const struct itest_resp *r, long status, const char *code,
                         const char *file, int line)
{
    if (r->status != status)
        fail_at(file, line, "expected %ld %s, got %ld: %s%s", status, code ? code : "", r->status,
                r->body, r->error);
    const char *got = itest_error_code(r);
    if (!got || (code && strcmp(got, code) != 0))
        fail_at(file, line, "expected error.code %s, got: %s", code ? code : "(any)", r->body);
}

void itest_expect_error_(struct itest_resp *r, long status, const char *code, const char *file,
                         int line)
{
    const char *got = itest_error_code(r);
    if (r->status == status && got && (!code || strcmp(got, code) == 0)) {
        itest_resp_free(r);
        return;
    }
    char was[1024];
    snprintf(was, sizeof(was), "%ld: %.400s%.256s", r->status, r->body, r->error);
    itest_resp_free(r);
    fail_at(file, line, "expected %ld %s, got %s", status, code ? code : "(any error)", was);
}

void itest_assert_field_(const struct itest_resp *r, const char *field, const char *file, int line)
{
    itest_assert_error_(r, 422, "invalid_input", file, line);
    json_t *fields = json_object_get(json_object_get(r->json, "error"), "fields");
    if (!json_is_string(json_object_get(fields, field)))
        fail_at(file, line, "expected error.fields.%s, got: %s", field, r->body);
}

/* ---- values that must be there ------------------------------------------------------------- */

char *itest_pg_one_(const char *db, const char *stmt, const char *arg, const char *file, int line)
{
    char *v = itest_pg_value(db, stmt, arg);
    if (!v)
        fail_at(file, line, "no value for: %s [%s]", stmt, arg ? arg : "");
    return v;
}

void itest_pg_expect_(const char *db, const char *stmt, const char *arg, const char *want,
                      const char *file, int line)
{
    char *v = itest_pg_one_(db, stmt, arg, file, line);
    if (strcmp(v, want) != 0) {
        char got[512];
        snprintf(got, sizeof(got), "%s", v);
        free(v);
        fail_at(file, line, "%s [%s]: got '%s', want '%s'", stmt, arg ? arg : "", got, want);
    }
    free(v);
}

const char *itest_json_str_(json_t *o, const char *key, const char *file, int line)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (!v) {
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        char shown[512];
        snprintf(shown, sizeof(shown), "%s", text ? text : "(nothing)");
        free(text);
        fail_at(file, line, "no string \"%s\" in %s", key, shown);
    }
    return v;
}

long long itest_json_int_(json_t *o, const char *key, const char *file, int line)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) {
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        char shown[512];
        snprintf(shown, sizeof(shown), "%s", text ? text : "(nothing)");
        free(text);
        fail_at(file, line, "no integer \"%s\" in %s", key, shown);
    }
    return (long long)json_integer_value(v);
}
