/* The fixed steps of a hook call (docs/design.md, "The hook call"). */
#include "host.h"

#define bmlua_pushkey(L, lim, k) lua_rawgeti(L, LUA_REGISTRYINDEX, (lim)->key_##k)

int bmlua_hookbegin(lua_State *L, bmlua_Limits *lim, int narr) {
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

void bmlua_hookload(lua_State *L, bmlua_Limits *lim, int base, int ref) {
    bmlua_pushkey(L, lim, bhin);
    lua_insert(L, -2);
    lua_rawset(L, base + 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
}

void bmlua_hookresults(lua_State *L, bmlua_Limits *lim, int base) {
    bmlua_pushkey(L, lim, bhout);  lua_rawget(L, base + 1);
    bmlua_pushkey(L, lim, bhout2); lua_rawget(L, base + 1);
}
