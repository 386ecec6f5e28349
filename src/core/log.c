/*
 * log.c — structured logs: one JSON object per line on stderr, written
 * with a single write() so lines from different threads never interleave.
 */
#include "studiod/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <stdlib.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static const char *level_names[] = {"debug", "info", "warn", "error"};

static void iso_now(char *out, size_t n);
static size_t put_escaped(char *out, size_t cap, size_t o, const char *s);

void log_set_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && strcasecmp(name, level_names[i]) == 0)
            min_level = (enum log_level)i;
}

static void iso_now(char *out, size_t n)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + k, n - k, ".%03dZ", (int)(tv.tv_usec / 1000));
}

bool log_enabled(enum log_level lvl)
{
    return lvl >= min_level;
}

void log_json(enum log_level lvl, json_t *obj)
{
    if (lvl < min_level) {
        json_decref(obj);
        return;
    }
    char ts[40];
    iso_now(ts, sizeof(ts));
    json_object_set_new(obj, "ts", json_string(ts));
    json_object_set_new(obj, "level", json_string(level_names[lvl]));
    char *line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (!line)
        return;
    size_t len = strlen(line);
    line[len] = '\n'; /* overwrite the NUL: one write() per line */
    ssize_t w = write(STDERR_FILENO, line, len + 1);
    (void)w;
    free(line);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    if (lvl < min_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_json(lvl, json_pack("{s:s}", "msg", msg));
}

/* Appends s as a JSON string literal at out[o]; returns the new length (never past cap). */
static size_t put_escaped(char *out, size_t cap, size_t o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (o + 1 < cap)
        out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 8 < cap; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            out[o++] = '\\';
            out[o++] = 'u';
            out[o++] = '0';
            out[o++] = '0';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c; /* UTF-8 passes through; invalid bytes are the path's own */
        }
    }
    if (o + 1 < cap)
        out[o++] = '"';
    return o;
}

void log_fields(enum log_level lvl, const struct log_field *fields, size_t n)
{
    if (lvl < min_level)
        return;
    char line[4096];
    size_t cap = sizeof(line) - 2, o = 0;
    char ts[40];
    iso_now(ts, sizeof(ts));
    o += (size_t)snprintf(line, cap, "{\"ts\":\"%s\",\"level\":\"%s\"", ts, level_names[lvl]);
    for (size_t i = 0; i < n && o + 16 < cap; i++) {
        line[o++] = ',';
        o = put_escaped(line, cap, o, fields[i].key);
        line[o++] = ':';
        int w = 0;
        if (fields[i].type == 's' && fields[i].str)
            o = put_escaped(line, cap, o, fields[i].str);
        else if (fields[i].type == 's')
            w = snprintf(line + o, cap - o, "null");
        else if (fields[i].type == 'i')
            w = snprintf(line + o, cap - o, "%lld", fields[i].num);
        else
            w = snprintf(line + o, cap - o, "%.2f", fields[i].real);
        if (w > 0)
            o += (size_t)w < cap - o ? (size_t)w : cap - o - 1;
    }
    line[o++] = '}';
    line[o++] = '\n';
    ssize_t wr = write(STDERR_FILENO, line, o);
    (void)wr;
}
