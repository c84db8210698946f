/* Lua's function-like macros as functions Swift can call. */
#include "host.h"

int bmlua_registryindex(void) { return LUA_REGISTRYINDEX; }
void bmlua_pop(lua_State *L, int n) { lua_pop(L, n); }
int bmlua_isinteger(lua_State *L, int i) { return lua_isinteger(L, i); }
long long bmlua_tointeger(lua_State *L, int i) { return lua_tointegerx(L, i, NULL); }
double bmlua_tonumber(lua_State *L, int i) { return lua_tonumberx(L, i, NULL); }
const char *bmlua_tolstring(lua_State *L, int i, size_t *len) { return lua_tolstring(L, i, len); }

void bmlua_rawgetglobal(lua_State *L, const char *name) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    lua_pushstring(L, name);
    lua_rawget(L, -2);
    lua_remove(L, -2);
}

void bmlua_rawsetglobal(lua_State *L, const char *name) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    lua_pushstring(L, name);
    lua_rotate(L, -3, -1);   /* value, G, name -> G, name, value */
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

void bmlua_rawsetfield(lua_State *L, int t, const char *name) {
    t = lua_absindex(L, t);
    lua_pushstring(L, name);
    lua_rotate(L, -2, 1);    /* value, name -> name, value */
    lua_rawset(L, t);
}
