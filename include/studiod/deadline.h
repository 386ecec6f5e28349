/*
 * deadline.h — the absolute time pthread_cond_timedwait wants: now on a
 * clock, plus some milliseconds.
 */
#ifndef STUDIOD_DEADLINE_H
#define STUDIOD_DEADLINE_H

#include <time.h>

/* Now on clock (that of the condition variable: CLOCK_REALTIME unless it was set), plus ms. */
static inline struct timespec deadline_after_ms(clockid_t clock, long ms)
{
    struct timespec t;
    clock_gettime(clock, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += ms % 1000 * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

#endif
