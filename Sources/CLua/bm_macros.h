/*
 * bm_macros.h — Lua's function-like macros as functions Swift can call; a part of shim.h.
 */
#ifndef BMLUA_MACROS_H
#define BMLUA_MACROS_H

static inline int bmlua_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline int bmlua_upvalueindex(int i) { return lua_upvalueindex(i); }
static inline void bmlua_pop(lua_State *L, int n) { lua_pop(L, n); }
static inline void bmlua_newtable(lua_State *L) { lua_newtable(L); }
static inline int bmlua_isnoneornil(lua_State *L, int i) { return lua_isnoneornil(L, i); }
static inline const char *bmlua_tolstring(lua_State *L, int i, size_t *len) {
    /* Only called on values whose type is LUA_TSTRING: no conversion, no allocation. */
    return lua_tolstring(L, i, len);
}
static inline int bmlua_pcall(lua_State *L, int nargs, int nresults, int msgh) {
    return lua_pcall(L, nargs, nresults, msgh);
}
static inline void bmlua_fullgc(lua_State *L) { lua_gc(L, LUA_GCCOLLECT, 0); }
static inline int bmlua_isinteger(lua_State *L, int i) { return lua_isinteger(L, i); }
static inline lua_Integer bmlua_tointeger(lua_State *L, int i) { return lua_tointegerx(L, i, NULL); }
static inline lua_Number bmlua_tonumber(lua_State *L, int i) { return lua_tonumberx(L, i, NULL); }

/* Raw access to the globals table: a metatable set on _G by user code is never consulted. */
static inline void bmlua_rawgetglobal(lua_State *L, const char *name) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    lua_pushstring(L, name);
    lua_rawget(L, -2);
    lua_remove(L, -2);
}
/* Pops a value and stores it as global `name`. */
static inline void bmlua_rawsetglobal(lua_State *L, const char *name) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    lua_pushstring(L, name);
    lua_rotate(L, -3, -1);   /* value, G, name -> G, name, value */
    lua_rawset(L, -3);
    lua_pop(L, 1);
}
/* t[name] = value (popped), raw, for the table at index t. */
static inline void bmlua_rawsetfield(lua_State *L, int t, const char *name) {
    t = lua_absindex(L, t);
    lua_pushstring(L, name);
    lua_rotate(L, -2, 1);    /* value, name -> name, value */
    lua_rawset(L, t);
}

#endif
