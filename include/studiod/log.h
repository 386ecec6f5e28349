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
/* Writes obj (adding "ts" and "level") as one line; steals obj. */
void log_json(enum log_level lvl, json_t *obj);

#endif
