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
    if (n < 0) return lua_error(L);
    return n;
}

/* Pushes a closure that calls `fn` with `box` (both light userdata). */
static inline void bmlua_pushswiftfunction(lua_State *L, bmlua_SwiftFunction fn, void *box) {
    lua_pushlightuserdata(L, (void *)fn);
    lua_pushlightuserdata(L, box);
    lua_pushcclosure(L, bmlua_trampoline, 2);
}

#endif
