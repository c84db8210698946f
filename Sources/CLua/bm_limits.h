/*
 * bm_limits.h — the limits of user code: the count hook, trips and their locks; a part of shim.h.
 */
#ifndef BMLUA_LIMITS_H
#define BMLUA_LIMITS_H

/* TIME: the watchdog; MEMORY: the allocator; INTERRUPT: Ctrl-C (a signal handler). */
enum { BMLUA_TRIP_NONE = 0, BMLUA_TRIP_TIME = 1, BMLUA_TRIP_MEMORY = 2, BMLUA_TRIP_INTERRUPT = 3 };

/* Small blocks come in classes of 16 bytes up to 256; at most 1 MiB of freed
   ones is kept for reuse. */
enum { BMLUA_CLASSES = 16, BMLUA_POOL_BYTES = 1 << 20 };

/* Coroutines resumed one inside another: more than Lua's C-call limit
   (LUAI_MAXCCALLS, 200) lets a chain reach. */
enum { BMLUA_NESTED = 256 };

/* Programs started by Lua code and not yet waited for, that a time trip can kill. */
enum { BMLUA_CHILDREN = 64 };

typedef struct bmlua_Limits {
    lua_State *L;
    size_t used;             /* bytes held by the state */
    size_t cap;              /* 0: no cap */
    int capped;              /* cap enforced: only while user Lua code runs */
    volatile sig_atomic_t tripped;   /* BMLUA_TRIP_* */
    volatile sig_atomic_t running;   /* user code runs: an interrupt may trip it */
    /* Registry refs of the error values the count hook raises: made up front
       so raising them never allocates (memory may be exhausted by then). */
    int timeref, memoryref, interruptref;
    /* The time limit without locks or clock reads on the hot path: the host
       bumps `clock` when an outermost timed call begins and again when it
       ends (odd: a call runs).  The watchdog thread, seeing one odd value
       for longer than the limit, records it in `tripclock` and arms the
       count hook; the hook raises only if that call is still the one running. */
    unsigned long clock;
    unsigned long tripclock;
    /* Registry refs of the strings "bhin", "bhout", "bhout2", "bhtemp": pushing
       a name by C string costs a cache lookup and a strcmp on every call. */
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
       call that started it and its start time (in clock ticks since boot, as
       /proc says: what a program it left behind started after), and the lock
       that keeps a time trip from killing a pid once reaped (see bmlua_killchildren). */
    struct { pid_t pid; unsigned long clock; unsigned long long start; } children[BMLUA_CHILDREN];
    /* This process is the subreaper of what hook programs leave behind (the
       bmlua program is; a host with children of its own is not). */
    int reaporphans;
    /* The error value the trampoline last raised for a Swift function (a
       bmlua error with its own number): a script's traceback leaves it as it is. */
    const void *hostraised;
    int nchildren;
    volatile char childlock;
    /* Freed small blocks kept for reuse, by size class (see bmlua_alloc). */
    void *pool[BMLUA_CLASSES + 1];
    size_t pooled;           /* bytes held in `pool` */
} bmlua_Limits;

/* The limits of the state `L` belongs to: its allocator's data. */
static inline bmlua_Limits *bmlua_limits(lua_State *L) {
    void *ud;
    lua_getallocf(L, &ud);
    return (bmlua_Limits *)ud;
}

static inline unsigned long bmlua_clock(bmlua_Limits *lim) {
    return __atomic_load_n(&lim->clock, __ATOMIC_ACQUIRE);
}
static inline void bmlua_tick(bmlua_Limits *lim) {
    __atomic_store_n(&lim->clock, lim->clock + 1, __ATOMIC_RELEASE);
}

static inline void bmlua_untrip(bmlua_Limits *lim) {
    lua_sethook(lim->L, NULL, 0, 0);
    lim->tripped = BMLUA_TRIP_NONE;
}

/* Runs at every instruction, call and return of a thread once armed;
   re-raises until the call has unwound, so a pcall inside the hook cannot
   swallow the limit. */
static inline void bmlua_counthook(lua_State *L, lua_Debug *ar) {
    bmlua_Limits *lim = bmlua_limits(L);
    (void)ar;
    if (lim->tripped == BMLUA_TRIP_TIME &&
        __atomic_load_n(&lim->tripclock, __ATOMIC_ACQUIRE) != lim->clock) {
        bmlua_untrip(lim);   /* the watchdog was late: the call it meant has ended */
    }
    if (lim->tripped == BMLUA_TRIP_NONE) {
        lua_sethook(L, NULL, 0, 0);   /* this thread (a coroutine, say) was armed for a trip since reset */
        return;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, lim->tripped == BMLUA_TRIP_TIME ? lim->timeref
                                    : lim->tripped == BMLUA_TRIP_MEMORY ? lim->memoryref : lim->interruptref);
    lua_error(L);
}

/* Lua documents lua_sethook as safe to call asynchronously (lua.c calls it
   from a signal handler): the watchdog thread uses it to stop a hook. */
static inline void bmlua_arm(lua_State *L) {
    lua_sethook(L, bmlua_counthook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* Spin locks for what the watchdog thread reads: held for a few stores (the
   watchdog holds the children's for a scan of /proc, see bmlua_killchildren). */
static inline int bmlua_trylock(volatile char *lock) { return !__atomic_test_and_set(lock, __ATOMIC_SEQ_CST); }
static inline void bmlua_lock(volatile char *lock) { while (!bmlua_trylock(lock)) { } }
static inline void bmlua_unlock(volatile char *lock) { __atomic_clear(lock, __ATOMIC_SEQ_CST); }

/* Hooks belong to one thread, and while a coroutine runs the main thread
   runs no instruction: so a trip arms the main thread and every coroutine
   being resumed (lim->resumed, kept by bmlua_auxresume).  It only tries the
   lock that guards that list, since it may interrupt its holder (a signal
   handler, or the allocator): the holder looks at `tripped` once it lets go
   and arms the thread it runs next itself. */
static inline void bmlua_trip(bmlua_Limits *lim, int why) {
    __atomic_store_n(&lim->tripped, why, __ATOMIC_SEQ_CST);
    bmlua_arm(lim->L);
    if (bmlua_trylock(&lim->resumedlock)) {
        for (int i = 0; i < lim->nresumed && i < BMLUA_NESTED; i++) bmlua_arm(lim->resumed[i]);
        bmlua_unlock(&lim->resumedlock);
    }
}

/* Ctrl-C's side (a signal handler, or another thread): stops the code that
   runs now, if any. */
static inline void bmlua_interrupt(bmlua_Limits *lim) {
    if (lim->running) bmlua_trip(lim, BMLUA_TRIP_INTERRUPT);
}

/* The watchdog's side: `seen` is the running call's clock; trips it if
   still running, and says whether it did. */
static inline int bmlua_timetrip(bmlua_Limits *lim, unsigned long seen) {
    __atomic_store_n(&lim->tripclock, seen, __ATOMIC_RELEASE);
    if (bmlua_clock(lim) != seen) return 0;
    bmlua_trip(lim, BMLUA_TRIP_TIME);
    return 1;
}

#endif
