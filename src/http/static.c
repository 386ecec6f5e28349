/*
 * static.c — GET /static/<path>: the files under STUDIOD_HOME/static/, with
 * a content type by extension, a validator pair (ETag, Last-Modified) and an
 * hour of public caching.
 *
 * The path is attacker-controlled, so it is checked twice. First as text
 * (static_normalize): no empty, "." or ".." segments, no hidden files, no
 * backslashes, control bytes or leftover '%' escapes — libmicrohttpd has
 * already decoded the URL once, so a '%' here means double encoding, which
 * nothing legitimate produces. Then on disk: realpath() resolves every
 * symlink, and the result must lie strictly inside realpath(static root), so
 * a link pointing out of the folder is refused like a missing file. Every
 * refusal is the same 404, so probing learns nothing.
 *
 * Files are small (CSS, JS, icons); each is read whole into the request's
 * arena. HEAD needs nothing here: the server drops the body.
 */
#include "studiod/static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "studiod/config.h"

#define STATIC_MAX_FILE (16u * 1024 * 1024) /* larger files are refused (404) */
#define STATIC_MAX_PATH 1024                /* longest relative path accepted */
#define STATIC_CACHE_CONTROL "public, max-age=3600"

struct static_type {
    const char *ext;
    const char *type;
};

/* Extensions are compared case-insensitively. */
static const struct static_type static_types[] = {
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"webmanifest", "application/manifest+json"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"txt", "text/plain; charset=utf-8"},
    {"xml", "application/xml"},
    {"pdf", "application/pdf"},
    {"ics", "text/calendar; charset=utf-8"},
    {"wasm", "application/wasm"},
};

static const char *const static_days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const static_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static bool static_segment_ok(const char *seg, size_t len);
static int static_resolve(struct request *req, const char *rel, char *out);
static int static_open(const char *full, struct stat *st);
static char *static_read(struct arena *a, int fd, size_t size, size_t *len);
static char *static_etag(struct arena *a, const struct stat *st);
static char *static_http_date(struct arena *a, time_t t);
static bool static_parse_http_date(const char *s, time_t *out);
static bool static_etag_listed(const char *header, const char *etag);
static bool static_not_modified(struct request *req, const char *etag, const struct stat *st);
static void static_add_validators(struct request *req, const char *etag, const struct stat *st);
static void static_not_found(struct request *req);

/* One path segment: non-empty, not starting with '.' (which also covers "."
 * and ".."), and free of bytes that never belong in our file names. */
static bool static_segment_ok(const char *seg, size_t len)
{
    if (len == 0 || seg[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)seg[i];
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '%')
            return false;
    }
    return true;
}

const char *static_normalize(struct arena *a, const char *rel)
{
    if (!rel || !rel[0] || rel[0] == '/')
        return NULL;
    size_t n = strlen(rel);
    if (n > STATIC_MAX_PATH)
        return NULL;
    const char *p = rel;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (!static_segment_ok(p, len))
            return NULL; /* also catches "a//b" and a trailing '/' */
        if (!slash)
            break;
        p = slash + 1;
    }
    return arena_strndup(a, rel, n);
}

const char *static_content_type(const char *name)
{
    const char *base = name ? strrchr(name, '/') : NULL;
    base = base ? base + 1 : name;
    const char *dot = base ? strrchr(base, '.') : NULL;
    if (!dot || dot == base)
        return "application/octet-stream";
    for (size_t i = 0; i < sizeof(static_types) / sizeof(static_types[0]); i++)
        if (strcasecmp(dot + 1, static_types[i].ext) == 0)
            return static_types[i].type;
    return "application/octet-stream";
}

/* Resolves rel under the static root into out (PATH_MAX bytes). 0 when the
 * result lies strictly inside the root, -1 otherwise (missing, or a symlink
 * leading out). */
static int static_resolve(struct request *req, const char *rel, char *out)
{
    char root[PATH_MAX];
    if (!realpath(config_path("static"), root))
        return -1;
    size_t rlen = strlen(root);
    if (rlen > 0 && root[rlen - 1] == '/')
        rlen--; /* the root is "/" itself */
    const char *candidate = arena_printf(req->arena, "%.*s/%s", (int)rlen, root, rel);
    if (!realpath(candidate, out))
        return -1;
    if (strncmp(out, root, rlen) != 0 || out[rlen] != '/' || out[rlen + 1] == '\0')
        return -1;
    return 0;
}

/* Opens a resolved path read-only; the checks run on the open descriptor so a
 * file swapped after realpath() is still judged by what is actually read. */
static int static_open(const char *full, struct stat *st)
{
    int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_size < 0 ||
        (unsigned long long)st->st_size > STATIC_MAX_FILE) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads up to size bytes; *len is what was read (the file may have shrunk). */
static char *static_read(struct arena *a, int fd, size_t size, size_t *len)
{
    char *data = arena_alloc(a, size + 1);
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, data + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return NULL;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    *len = got;
    return data;
}

/* A strong validator from size and modification time (to the nanosecond). */
static char *static_etag(struct arena *a, const struct stat *st)
{
    return arena_printf(a, "\"%llx-%llx-%lx\"", (unsigned long long)st->st_size,
                        (unsigned long long)st->st_mtim.tv_sec, (unsigned long)st->st_mtim.tv_nsec);
}

/* RFC 7231 IMF-fixdate, spelled out by hand so the locale cannot change it. */
static char *static_http_date(struct arena *a, time_t t)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return arena_strdup(a, "Thu, 01 Jan 1970 00:00:00 GMT");
    return arena_printf(a, "%s, %02d %s %04d %02d:%02d:%02d GMT", static_days[tm.tm_wday],
                        tm.tm_mday, static_months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
                        tm.tm_min, tm.tm_sec);
}

/* Parses an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"); the obsolete
 * formats are not worth accepting for a cache validator. */
static bool static_parse_http_date(const char *s, time_t *out)
{
    char wday[4], mon[4], zone[4];
    int day, year, h, m, sec, used = 0;
    if (sscanf(s, "%3[A-Za-z], %d %3[A-Za-z] %d %d:%d:%d %3[A-Z]%n", wday, &day, mon, &year, &h, &m,
               &sec, zone, &used) != 8)
        return false;
    if (strcmp(zone, "GMT") != 0 || s[used] != '\0')
        return false;
    int month = -1;
    for (int i = 0; i < 12; i++)
        if (strcmp(mon, static_months[i]) == 0)
            month = i;
    if (month < 0 || day < 1 || day > 31 || year < 1970 || year > 9999 || h < 0 || h > 23 ||
        m < 0 || m > 59 || sec < 0 || sec > 60)
        return false;
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = month,
                    .tm_mday = day,
                    .tm_hour = h,
                    .tm_min = m,
                    .tm_sec = sec};
    *out = timegm(&tm);
    return *out != (time_t)-1;
}

/* True when If-None-Match lists etag (weak comparison, as RFC 7232 asks for
 * this header) or is "*". */
static bool static_etag_listed(const char *header, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (end - start == 1 && *start == '*')
            return true;
        if (end - start > 2 && strncmp(start, "W/", 2) == 0)
            start += 2;
        if ((size_t)(end - start) == elen && memcmp(start, etag, elen) == 0)
            return true;
    }
    return false;
}

/* RFC 7232 §6: If-None-Match decides when present; If-Modified-Since is only
 * consulted without it. */
static bool static_not_modified(struct request *req, const char *etag, const struct stat *st)
{
    const char *inm = http_header(req, "If-None-Match");
    if (inm)
        return static_etag_listed(inm, etag);
    const char *ims = http_header(req, "If-Modified-Since");
    time_t since;
    if (ims && static_parse_http_date(ims, &since))
        return since >= st->st_mtim.tv_sec;
    return false;
}

/* ETag, Last-Modified and Cache-Control: sent with 200 and with 304 alike. */
static void static_add_validators(struct request *req, const char *etag, const struct stat *st)
{
    http_add_header(req, "ETag", etag);
    http_add_header(req, "Last-Modified", static_http_date(req->arena, st->st_mtim.tv_sec));
    http_add_header(req, "Cache-Control", STATIC_CACHE_CONTROL);
}

static void static_not_found(struct request *req)
{
    http_reply_error(req, 404, "not_found", "No such file", NULL);
}

void static_serve(struct request *req)
{
    const char *rel = static_normalize(req->arena, http_param(req, "path"));
    char full[PATH_MAX];
    if (!rel || static_resolve(req, rel, full) != 0) {
        static_not_found(req);
        return;
    }
    struct stat st;
    int fd = static_open(full, &st);
    if (fd < 0) {
        static_not_found(req);
        return;
    }
    const char *etag = static_etag(req->arena, &st);
    if (static_not_modified(req, etag, &st)) {
        close(fd);
        static_add_validators(req, etag, &st);
        http_reply_bytes(req, 304, NULL, "", 0);
        return;
    }
    size_t len;
    char *data = static_read(req->arena, fd, (size_t)st.st_size, &len);
    close(fd);
    if (!data) {
        static_not_found(req);
        return;
    }
    static_add_validators(req, etag, &st);
    http_reply_bytes(req, 200, static_content_type(rel), data, len);
}

const struct route static_routes[] = {
    {"GET", "/static/*path", static_serve, TENANT_NONE, AUTH_PUBLIC, NULL, NULL, 0},
    {0},
};
