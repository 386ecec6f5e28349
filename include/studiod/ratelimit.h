/*
 * ratelimit.h — counting events per key over a sliding window in the master
 * database, so every studiod process shares the same counts.
 */
#ifndef STUDIOD_RATELIMIT_H
#define STUDIOD_RATELIMIT_H

struct db_conn;

/* Records one event under key and tells whether the key is now over `limit` events in
 * the last window_seconds: 0 allowed, 1 limited (*retry_after seconds), -1 error. A
 * limited attempt is not recorded, so waiting always helps. */
int ratelimit_hit(struct db_conn *master, const char *key, int limit, int window_seconds,
                  int *retry_after);

#endif
