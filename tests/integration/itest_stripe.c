/*
 * itest_stripe.c — see itest_stripe.h.
 */
#include "itest_stripe.h"

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3"
#define START_WAIT_MS 10000

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

int itest_stripe_start(struct itest_stripe *f, const char *const *extra_env)
{
    memset(f, 0, sizeof(*f));
    const char *home = getenv("STUDIOD_HOME");
    char script[512], portarg[16];
    snprintf(script, sizeof(script), "%s/tests/fakes/stripe_fake.py", home ? home : ".");
    f->http.port = free_port();
    if (f->http.port < 0)
        return -1;
    snprintf(portarg, sizeof(portarg), "%d", f->http.port);
    snprintf(f->http.base, sizeof(f->http.base), "http://127.0.0.1:%d", f->http.port);
    snprintf(f->log, sizeof(f->log), "/tmp/itest-stripe-fake-%d.log", f->http.port);
    f->pid = fork();
    if (f->pid < 0) {
        f->pid = 0;
        return -1;
    }
    if (f->pid == 0) {
        for (const char *const *e = extra_env; e && *e; e++)
            putenv((char *)*e);
        if (!freopen(f->log, "w", stderr))
            _exit(126);
        execl(PYTHON, PYTHON, script, portarg, (char *)NULL);
        _exit(127);
    }
    double until = itest_now_ms() + START_WAIT_MS;
    while (itest_now_ms() < until) {
        struct itest_resp *r =
            itest_request(&f->http, "GET", NULL, "/_fake/requests", NULL, NULL, NULL, NULL);
        long st = r->status;
        itest_resp_free(r);
        if (st == 200)
            return 0;
        itest_pause_ms(50);
    }
    fprintf(stderr, "the Stripe stand-in did not answer on port %d (log: %s)\n", f->http.port,
            f->log);
    itest_stripe_stop(f);
    return -1;
}

void itest_stripe_stop(struct itest_stripe *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        waitpid(f->pid, NULL, 0);
        f->pid = 0;
    }
}

const char *itest_stripe_env(const struct itest_stripe *f, char *out)
{
    snprintf(out, 96, "STRIPE_API_BASE=%s", f->http.base);
    return out;
}

json_t *itest_stripe_requests(const struct itest_stripe *f)
{
    struct itest_resp *r =
        itest_request(&f->http, "GET", NULL, "/_fake/requests", NULL, NULL, NULL, NULL);
    json_t *list = r->status == 200 ? json_object_get(r->json, "requests") : NULL;
    json_incref(list);
    itest_resp_free(r);
    return list;
}

long itest_stripe_post(const struct itest_stripe *f, const char *path, const char *json_body)
{
    struct itest_resp *r = itest_request(
        &f->http, "POST", NULL, path, json_body ? "application/json" : NULL, json_body, NULL, NULL);
    long st = r->status;
    itest_resp_free(r);
    return st;
}
