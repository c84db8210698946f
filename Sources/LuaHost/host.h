/*
 * host.h — what the parts of the Lua host share, not seen by Swift.
 */
#ifndef LUAHOST_HOST_H
#define LUAHOST_HOST_H

#include "luahost.h"
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

/* Small blocks come in classes of 16 bytes up to 256 (see allocator.c). */
enum { BMLUA_CLASSES = 16 };
/* Coroutines resumed one inside another: more than Lua's C-call limit
   (LUAI_MAXCCALLS, 200) lets a chain reach. */
enum { BMLUA_NESTED = 256 };
/* Programs started by Lua code and not yet waited for, that a time trip can kill. */
enum { BMLUA_CHILDREN = 64 };

struct bmlua_Limits {
    lua_State *L;
    size_t used;             /* bytes held by the state */
    size_t cap;              /* 0: no cap */
    int capped;              /* cap enforced: only while user Lua code runs */
    volatile sig_atomic_t tripped;   /* BMLUA_TRIP_* */
    volatile sig_atomic_t running;   /* user code runs: an interrupt may trip it */
    int timeddepth;          /* timed calls open, one inside another */
    /* Registry refs of the error values the count hook raises: made up front
       so raising them never allocates (memory may be exhausted by then). */
    int timeref, memoryref, interruptref;
    /* The time limit without locks or clock reads on the hot path: an
       outermost timed call bumps `clock` when it begins and again when it
       ends (odd: a call runs).  The watchdog, seeing one odd value for
       longer than the limit, records it in `tripclock` and arms the count
       hook; the hook raises only if that call is still the one running. */
    unsigned long clock;
    unsigned long tripclock;
    /* Registry refs of "bhin", "bhout", "bhout2", "bhtemp": pushing a name by
       C string costs a cache lookup and a strcmp on every call. */
    int key_bhin, key_bhout, key_bhout2, key_bhtemp;
    /* The last request refused: Lua answers a refusal with an emergency
       collection and asks again; only a refused retry is out of memory. */
    void *refusedptr;
    size_t refusedsize;
    /* The coroutines being resumed, outermost first, and the lock that keeps
       their list whole for a trip from another thread (see bmlua_trip). */
    lua_State *resumed[BMLUA_NESTED];
    int nresumed;
    volatile char resumedlock;
    /* The programs os.execute and io.popen run, each with the clock of the
       call that started it and its start time (clock ticks since boot, as
       /proc says), and the lock that keeps a time trip from killing a pid
       once reaped (see bmlua_killchildren). */
    struct { pid_t pid; unsigned long clock; unsigned long long start; } children[BMLUA_CHILDREN];
    int nchildren;
    volatile char childlock;
    /* The error value the trampoline last raised for a Swift function: a
       script's traceback leaves it as it is (its number travels with it). */
    const void *hostraised;
    /* Freed small blocks kept for reuse, by size class (see allocator.c). */
    void *pool[BMLUA_CLASSES + 1];
    size_t pooled;
    /* The watchdog thread (watchdog.c), started by the first timed call. */
    uint64_t limitns;        /* atomic; the time limit */
    int haslimit;            /* atomic */
    int watching;
    int watchstop;
    unsigned long long (*now)(void);    /* atomic; the watchdog's clock (tests give their own) */
    pthread_t watcher;
    pthread_mutex_t watchlock;
    pthread_cond_t watchwake;
    char overtime[160];
};

/* limits.c */
bmlua_Limits *bmlua_limits(lua_State *L);
unsigned long bmlua_clock(bmlua_Limits *lim);
void bmlua_tick(bmlua_Limits *lim);
void bmlua_untrip(bmlua_Limits *lim);
void bmlua_arm(lua_State *L);
void bmlua_trip(bmlua_Limits *lim, int why);
int bmlua_timetrip(bmlua_Limits *lim, unsigned long seen);
int bmlua_trylock(volatile char *lock);
void bmlua_lock(volatile char *lock);
void bmlua_unlock(volatile char *lock);

/* allocator.c */
void *bmlua_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
void bmlua_drainpool(bmlua_Limits *lim);

/* coroutines.c */
int bmlua_coresume(lua_State *L);
int bmlua_cowrap(lua_State *L);

/* programs.c */
int bmlua_osexecute(lua_State *L);
int bmlua_iopopen(lua_State *L);
void bmlua_killchildren(bmlua_Limits *lim, unsigned long seen);

/* trampoline.c */
int bmlua_traceback(lua_State *L);

/* watchdog.c */
void bmlua_watch(bmlua_Limits *lim);
void bmlua_unwatch(bmlua_Limits *lim);

/* interrupt.c: the newest state, for Ctrl-C's handler. */
void bmlua_setinterruptible(bmlua_Limits *lim);
void bmlua_clearinterruptible(bmlua_Limits *lim);
extern int bmlua_reaporphans;

#endif
