/* Running user code: the one place a limited call starts and ends. */
#include "host.h"

static int bmlua_protectedcall(lua_State *L, bmlua_Limits *lim, int nargs, int nresults, int traceback) {
    int base = 0;
    if (traceback) {
        base = lua_gettop(L) - nargs;
        lua_pushcfunction(L, bmlua_traceback);
        lua_insert(L, base);
    }
    int saved = lim->capped;
    lim->capped = 1;
    int status = lua_pcall(L, nargs, nresults, base);
    lim->capped = saved;
    if (traceback) lua_remove(L, base);
    return status;
}

int bmlua_call(lua_State *L, bmlua_Limits *lim, int nargs, int nresults, int flags, int *stopped) {
    int timed = flags & BMLUA_CALL_TIMED;
    /* Only the outermost timed call runs on the clock: one inside it (a hook
       a script's bm function ran) spends the same budget. */
    int armsclock = timed && lim->timeddepth == 0 && __atomic_load_n(&lim->haslimit, __ATOMIC_RELAXED);
    if (timed) lim->timeddepth++;
    if (armsclock) {
        if (!lim->watching) bmlua_watch(lim);
        bmlua_tick(lim);
    }
    /* `running` is set by the outermost run only, so it also tells which run that is. */
    int outermost = lim->running == 0;
    if (outermost) {
        if (lim->tripped == BMLUA_TRIP_INTERRUPT) bmlua_untrip(lim);   /* came between two runs */
        lim->running = 1;
    }
    int status = bmlua_protectedcall(L, lim, nargs, nresults, flags & BMLUA_CALL_TRACEBACK);
    if (outermost) lim->running = 0;
    unsigned long callclock = lim->clock;
    if (armsclock) bmlua_tick(lim);
    if (timed) lim->timeddepth--;

    /* An interrupt unwinds every level (the count hook raises again in
       each): only the outermost run resets it. */
    int interrupted = lim->tripped == BMLUA_TRIP_INTERRUPT;
    if (interrupted && outermost) bmlua_untrip(lim);
    int tripped = lim->tripped;
    if (tripped == BMLUA_TRIP_TIME && armsclock && __atomic_load_n(&lim->tripclock, __ATOMIC_ACQUIRE) != callclock) {
        tripped = BMLUA_TRIP_NONE;   /* a late trip meant for an earlier call */
    }
    /* A time trip belongs to the outermost timed call; it is reset there. */
    if (tripped == BMLUA_TRIP_MEMORY || (lim->tripped == BMLUA_TRIP_TIME && lim->timeddepth == 0)) bmlua_untrip(lim);

    *stopped = BMLUA_TRIP_NONE;
    if (status == LUA_OK) return status;
    if (tripped == BMLUA_TRIP_TIME) *stopped = BMLUA_TRIP_TIME;
    else if (tripped == BMLUA_TRIP_MEMORY || status == LUA_ERRMEM) *stopped = BMLUA_TRIP_MEMORY;
    else if (interrupted) *stopped = BMLUA_TRIP_INTERRUPT;
    if (*stopped == BMLUA_TRIP_MEMORY) lua_gc(L, LUA_GCCOLLECT, 0);   /* the error value on top stays */
    return status;
}
