/*
 * log.h — one JSON object per line on stderr.
 */
#ifndef STUDIOD_LOG_H
#define STUDIOD_LOG_H

#include <jansson.h>
#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(const char *name);
/* True when lvl is logged (to skip building a line nobody will see). */
bool log_enabled(enum log_level lvl);
/* A free-text event: {"ts","level","msg"} */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A field of a hot-path log line (log_fields): a string (NULL → null), an integer or a
 * real printed with 2 decimals. */
struct log_field {
    const char *key;
    char type; /* 's', 'i', 'r' */
    const char *str;
    long long num;
    double real;
};
#define LOG_STR(k, v) ((struct log_field){.key = (k), .type = 's', .str = (v)})
#define LOG_INT(k, v) ((struct log_field){.key = (k), .type = 'i', .num = (v)})
#define LOG_REAL(k, v) ((struct log_field){.key = (k), .type = 'r', .real = (v)})

/* Writes {"ts","level",fields...} as one line without building JSON values (the request
 * log, once per request). Strings are JSON-escaped; over-long lines are cut at 4 KiB. */
void log_fields(enum log_level lvl, const struct log_field *fields, size_t n);
/* Writes obj (adding "ts" and "level") as one line; steals obj. */
void log_json(enum log_level lvl, json_t *obj);

#endif
