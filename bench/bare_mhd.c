/*
 * bare_mhd.c — the baseline for bench/run.sh: libmicrohttpd configured the
 * way studiod configures it (internal polling thread per pool worker, epoll,
 * ITC, 30 s connection timeout, 127.0.0.1 only), answering the constant
 * body {"status":"ok"} as application/json to every request and doing
 * nothing else. What studiod's GET /healthz costs above this is studiod's
 * own per-request work (request arena, routing, headers, metrics, logging).
 *
 *   bare_mhd [PORT [THREADS]]     defaults: 8081, 8
 *
 * Stops on SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char BODY[] = "{\"status\":\"ok\"}";

static struct MHD_Response *g_response;

static long parse_arg(const char *s, long lo, long hi, const char *what);
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls);

static long parse_arg(const char *s, long lo, long hi, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "bare_mhd: %s must be a number in [%ld, %ld], got %s\n", what, lo, hi, s);
        exit(2);
    }
    return v;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    if (!*con_cls) {
        *con_cls = conn; /* first call: headers only; answer on the next one */
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* discard any body */
        return MHD_YES;
    }
    return MHD_queue_response(conn, MHD_HTTP_OK, g_response);
}

int main(int argc, char **argv)
{
    if (argc > 3 || (argc > 1 && strcmp(argv[1], "--help") == 0)) {
        fprintf(stderr, "usage: bare_mhd [PORT [THREADS]]   (defaults 8081, 8)\n");
        return 2;
    }
    long port = argc > 1 ? parse_arg(argv[1], 1, 65535, "PORT") : 8081;
    long threads = argc > 2 ? parse_arg(argv[2], 1, 1024, "THREADS") : 8;

    /* Block the stop signals before MHD starts its threads (they inherit the
     * mask), then wait for one of them here. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    g_response = MHD_create_response_from_buffer(sizeof(BODY) - 1, (void *)BODY,
                                                 MHD_RESPMEM_PERSISTENT);
    if (!g_response || MHD_add_response_header(g_response, "Content-Type",
                                               "application/json") != MHD_YES) {
        fprintf(stderr, "bare_mhd: cannot build the response\n");
        return 1;
    }

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, &on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
        MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bare_mhd: cannot listen on 127.0.0.1:%ld\n", port);
        MHD_destroy_response(g_response);
        return 1;
    }
    fprintf(stderr, "bare_mhd: listening on http://127.0.0.1:%ld (%ld threads)\n", port, threads);

    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    fprintf(stderr, "bare_mhd: signal %d, stopping\n", sig);
    MHD_stop_daemon(d);
    MHD_destroy_response(g_response);
    return 0;
}
