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
