/*
 * The watchdog: enforces the time limit of hook calls at no cost to calls
 * that finish in time.  A call only bumps a counter (bmlua_Limits.clock);
 * this thread polls it and arms Lua's count hook once one call has run past
 * the limit.  A call is stopped no earlier than the limit and at most two
 * polls later.  Code Lua runs with its hooks off (a finalizer, a message
 * handler) or a blocking system call (opening a FIFO) never sees the trip:
 * past a grace period the process ends, as a crash would.
 */
#include "host.h"
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { BMLUA_POLL_NS = 50000000 };
static const uint64_t BMLUA_GRACE_NS = 2000000000ull;

static unsigned long long bmlua_monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void bmlua_setwatchclock(bmlua_Limits *lim, unsigned long long (*now)(void)) {
    __atomic_store_n(&lim->now, now ? now : bmlua_monotonic, __ATOMIC_RELEASE);
}

void bmlua_settimelimit(bmlua_Limits *lim, double seconds) {
    if (seconds < 0) {
        __atomic_store_n(&lim->haslimit, 0, __ATOMIC_RELAXED);
        return;
    }
    if (seconds > 1e9) seconds = 1e9;
    __atomic_store_n(&lim->limitns, (uint64_t)(seconds * 1e9), __ATOMIC_RELAXED);
    __atomic_store_n(&lim->haslimit, 1, __ATOMIC_RELAXED);
}

void bmlua_setovertimelabel(bmlua_Limits *lim, const char *label) {
    pthread_mutex_lock(&lim->watchlock);
    snprintf(lim->overtime, sizeof lim->overtime, "%s", label);
    pthread_mutex_unlock(&lim->watchlock);
}

static void bmlua_endprocess(bmlua_Limits *lim, double seconds) {
    char msg[512];
    int n = snprintf(msg, sizeof msg,
        "bmlua: %s: the hook did not stop %.1f s after it started"
        " (code Lua runs with its hooks off, a looping finalizer or message handler, or a blocking call such as opening a FIFO);"
        " bmlua ends here, and an operation still open is rolled back\n", lim->overtime, seconds);
    if (n > 0) (void)!write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    _exit(1);
}

static void *bmlua_watchdog(void *ud) {
    bmlua_Limits *lim = ud;
    unsigned long watched = 0;
    uint64_t since = 0;
    pthread_mutex_lock(&lim->watchlock);
    while (!lim->watchstop) {
        unsigned long long (*now)(void) = __atomic_load_n(&lim->now, __ATOMIC_ACQUIRE);
        uint64_t limit = __atomic_load_n(&lim->limitns, __ATOMIC_RELAXED);
        unsigned long clock = bmlua_clock(lim);
        if ((clock & 1) == 0) {
            watched = clock;
        } else if (clock != watched) {
            watched = clock;
            since = now();
        } else if (now() - since >= limit) {
            if (bmlua_timetrip(lim, clock)) bmlua_killchildren(lim, clock);
            if (now() - since >= limit + BMLUA_GRACE_NS && bmlua_clock(lim) == clock) {
                bmlua_endprocess(lim, (double)(now() - since) / 1e9);
            }
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += BMLUA_POLL_NS;
        if (until.tv_nsec >= 1000000000) { until.tv_sec++; until.tv_nsec -= 1000000000; }
        pthread_cond_timedwait(&lim->watchwake, &lim->watchlock, &until);
    }
    pthread_mutex_unlock(&lim->watchlock);
    return NULL;
}

void bmlua_watch(bmlua_Limits *lim) {
    if (__atomic_load_n(&lim->now, __ATOMIC_ACQUIRE) == NULL) bmlua_setwatchclock(lim, NULL);
    lim->watchstop = 0;
    if (pthread_create(&lim->watcher, NULL, bmlua_watchdog, lim) == 0) lim->watching = 1;
}

void bmlua_unwatch(bmlua_Limits *lim) {
    if (!lim->watching) return;
    pthread_mutex_lock(&lim->watchlock);
    lim->watchstop = 1;
    pthread_cond_signal(&lim->watchwake);
    pthread_mutex_unlock(&lim->watchlock);
    pthread_join(lim->watcher, NULL);
    lim->watching = 0;
}
