/* The limits of user code: the count hook, trips and their locks. */
#include "host.h"

bmlua_Limits *bmlua_limits(lua_State *L) {
    void *ud;
    lua_getallocf(L, &ud);
    return (bmlua_Limits *)ud;
}

unsigned long bmlua_clock(bmlua_Limits *lim) { return __atomic_load_n(&lim->clock, __ATOMIC_ACQUIRE); }
void bmlua_tick(bmlua_Limits *lim) { __atomic_store_n(&lim->clock, lim->clock + 1, __ATOMIC_RELEASE); }

void bmlua_untrip(bmlua_Limits *lim) {
    lua_sethook(lim->L, NULL, 0, 0);
    lim->tripped = BMLUA_TRIP_NONE;
}

/* Runs at every instruction, call and return of a thread once armed;
   re-raises until the call has unwound, so a pcall inside the hook cannot
   swallow the limit. */
static void bmlua_counthook(lua_State *L, lua_Debug *ar) {
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
void bmlua_arm(lua_State *L) {
    lua_sethook(L, bmlua_counthook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* Spin locks for what the watchdog thread reads: held for a few stores (the
   watchdog holds the children's for a scan of /proc, see bmlua_killchildren). */
int bmlua_trylock(volatile char *lock) { return !__atomic_test_and_set(lock, __ATOMIC_SEQ_CST); }
void bmlua_lock(volatile char *lock) { while (!bmlua_trylock(lock)) { } }
void bmlua_unlock(volatile char *lock) { __atomic_clear(lock, __ATOMIC_SEQ_CST); }

/* Hooks belong to one thread, and while a coroutine runs the main thread
   runs no instruction: so a trip arms the main thread and every coroutine
   being resumed (lim->resumed, kept by coroutines.c).  It only tries the
   lock that guards that list, since it may interrupt its holder (a signal
   handler, or the allocator): the holder looks at `tripped` once it lets go
   and arms the thread it runs next itself. */
void bmlua_trip(bmlua_Limits *lim, int why) {
    __atomic_store_n(&lim->tripped, why, __ATOMIC_SEQ_CST);
    bmlua_arm(lim->L);
    if (bmlua_trylock(&lim->resumedlock)) {
        for (int i = 0; i < lim->nresumed && i < BMLUA_NESTED; i++) bmlua_arm(lim->resumed[i]);
        bmlua_unlock(&lim->resumedlock);
    }
}

void bmlua_interrupt(bmlua_Limits *lim) {
    if (lim->running) bmlua_trip(lim, BMLUA_TRIP_INTERRUPT);
}

/* The watchdog's side: `seen` is the running call's clock; trips it if
   still running, and says whether it did. */
int bmlua_timetrip(bmlua_Limits *lim, unsigned long seen) {
    __atomic_store_n(&lim->tripclock, seen, __ATOMIC_RELEASE);
    if (bmlua_clock(lim) != seen) return 0;
    bmlua_trip(lim, BMLUA_TRIP_TIME);
    return 1;
}

void bmlua_setmemorylimit(bmlua_Limits *lim, size_t bytes) { lim->cap = bytes; }
size_t bmlua_memoryused(const bmlua_Limits *lim) { return lim->used; }
size_t bmlua_pooled(const bmlua_Limits *lim) { return lim->pooled; }
