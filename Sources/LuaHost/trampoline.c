/* Swift functions called from Lua: Swift returns a status, C raises. */
#include "host.h"

static int bmlua_trampoline(lua_State *L) {
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

void bmlua_pushswiftfunction(lua_State *L, bmlua_SwiftFunction fn, void *box) {
    lua_pushlightuserdata(L, (void *)fn);
    lua_pushlightuserdata(L, box);
    lua_pushcclosure(L, bmlua_trampoline, 2);
}

/* A script's message handler, as lua.c's msghandler: a Lua error gets a
   traceback; an error a bmlua function raised keeps its value. */
int bmlua_traceback(lua_State *L) {
    bmlua_Limits *lim = bmlua_limits(L);
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL || lua_topointer(L, 1) == lim->hostraised) return 1;
    luaL_traceback(L, L, msg, 1);
    return 1;
}
