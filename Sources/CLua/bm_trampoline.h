/*
 * bm_trampoline.h — Swift functions called from Lua; a part of shim.h.
 */
#ifndef BMLUA_TRAMPOLINE_H
#define BMLUA_TRAMPOLINE_H

#include "bm_limits.h"

/* Returns the number of results pushed, or -1 with the error value on top. */
typedef int (*bmlua_SwiftFunction)(lua_State *L, void *box);

static inline int bmlua_trampoline(lua_State *L) {
    bmlua_SwiftFunction fn = (bmlua_SwiftFunction)lua_touserdata(L, lua_upvalueindex(1));
    void *box = lua_touserdata(L, lua_upvalueindex(2));
    bmlua_Limits *lim = bmlua_limits(L);
    int saved = lim->capped;
    lim->capped = 0;
    int n = fn(L, box);
    lim->capped = saved;
    if (n < 0) {
        lim->hostraised = lua_topointer(L, -1);
        return lua_error(L);
    }
    return n;
}

/* A script's message handler, as lua.c's: a Lua error gets a traceback; an
   error a bmlua function raised keeps its value (its number travels with it). */
static inline int bmlua_traceback(lua_State *L) {
    bmlua_Limits *lim = bmlua_limits(L);
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL || lua_topointer(L, 1) == lim->hostraised) return 1;
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* pcall with the traceback handler below the function and its arguments. */
static inline int bmlua_tracedcall(lua_State *L, bmlua_Limits *lim, int nargs, int nresults) {
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, bmlua_traceback);
    lua_insert(L, base);
    int saved = lim->capped;
    lim->capped = 1;
    int status = lua_pcall(L, nargs, nresults, base);
    lim->capped = saved;
    lua_remove(L, base);
    return status;
}

/* Pushes a closure that calls `fn` with `box` (both light userdata). */
static inline void bmlua_pushswiftfunction(lua_State *L, bmlua_SwiftFunction fn, void *box) {
    lua_pushlightuserdata(L, (void *)fn);
    lua_pushlightuserdata(L, box);
    lua_pushcclosure(L, bmlua_trampoline, 2);
}

#endif
