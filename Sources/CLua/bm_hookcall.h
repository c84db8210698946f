/*
 * bm_hookcall.h — the fixed steps of a hook call (DESIGN §4); a part of shim.h.
 */
#ifndef BMLUA_HOOKCALL_H
#define BMLUA_HOOKCALL_H

#include "bm_limits.h"

#define bmlua_pushkey(L, lim, k) lua_rawgeti(L, LUA_REGISTRYINDEX, (lim)->key_##k)

/* A hook call's stack, from `base` (the top before bmlua_hookbegin):
     base+1  the globals table, reached once and kept for the whole call
     base+2  the old bhtemp, for the host to delete if it made that file
     base+3  the new bhin, filled by the host, then the chunk to call
   Every global is read and written raw: no user metamethod runs here. */

/* Clears bhtemp, bhout and bhout2 and pushes the three slots above, the new
   bhin table with room for `narr` values on top.  Returns the old bhtemp's type. */
static inline int bmlua_hookbegin(lua_State *L, bmlua_Limits *lim, int narr) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    int g = lua_gettop(L);
    bmlua_pushkey(L, lim, bhtemp);
    int oldtype = lua_rawget(L, g);
    if (oldtype != LUA_TNIL) { bmlua_pushkey(L, lim, bhtemp); lua_pushnil(L); lua_rawset(L, g); }
    bmlua_pushkey(L, lim, bhout);  lua_pushnil(L); lua_rawset(L, g);
    bmlua_pushkey(L, lim, bhout2); lua_pushnil(L); lua_rawset(L, g);
    lua_createtable(L, narr, 0);
    return oldtype;
}

/* Stores the filled table as bhin and pushes chunk `ref` in its place, ready to call. */
static inline void bmlua_hookload(lua_State *L, bmlua_Limits *lim, int base, int ref) {
    bmlua_pushkey(L, lim, bhin);
    lua_insert(L, -2);
    lua_rawset(L, base + 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
}

/* After the call: pushes bhout, then bhout2. */
static inline void bmlua_hookresults(lua_State *L, bmlua_Limits *lim, int base) {
    bmlua_pushkey(L, lim, bhout);  lua_rawget(L, base + 1);
    bmlua_pushkey(L, lim, bhout2); lua_rawget(L, base + 1);
}

#endif
