/*
 * bm_state.h — a state under the limits, and running user code in it; a part of shim.h.
 */
#ifndef BMLUA_STATE_H
#define BMLUA_STATE_H

#include "bm_allocator.h"
#include "bm_coroutines.h"
#include "bm_programs.h"

static inline int bmlua_panic(lua_State *L) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "bmlua: unprotected Lua error: %s\n", msg ? msg : "?");
    abort();
}

/* A new state whose allocator is `lim`, with the trip messages registered. */
static inline lua_State *bmlua_newstate(bmlua_Limits *lim) {
    lua_State *L = lua_newstate(bmlua_alloc, lim);
    if (L == NULL) return NULL;
    lim->L = L;
    lua_atpanic(L, bmlua_panic);
    /* Each hook call leaves a small dead bhin table, and a collection cycle
       marks the whole standard library: waiting until the heap has grown 4x
       (not 2x) makes that marking a third as costly per call. */
    lua_gc(L, LUA_GCINC, 400, 0, 0);
    lua_pushliteral(L, "time limit exceeded");
    lim->timeref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushliteral(L, "not enough memory (memory limit exceeded)");
    lim->memoryref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushliteral(L, "interrupted!");
    lim->interruptref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushliteral(L, "bhin");   lim->key_bhin = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushliteral(L, "bhout");  lim->key_bhout = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushliteral(L, "bhout2"); lim->key_bhout2 = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushliteral(L, "bhtemp"); lim->key_bhtemp = luaL_ref(L, LUA_REGISTRYINDEX);
    return L;
}

/* Closes the state and frees the blocks its allocator kept. */
static inline void bmlua_closestate(lua_State *L, bmlua_Limits *lim) {
    lua_close(L);
    bmlua_drainpool(lim);
}

/* Runs user code: the cap is enforced for exactly the extent of the call. */
static inline int bmlua_limitedcall(lua_State *L, bmlua_Limits *lim, int nargs, int nresults) {
    int saved = lim->capped;
    lim->capped = 1;
    int status = lua_pcall(L, nargs, nresults, 0);
    lim->capped = saved;
    return status;
}

/* library[name] = fn, in the table require(library) gives; on the loaded table's top. */
static inline void bmlua_replace(lua_State *L, const char *library, const char *name, lua_CFunction fn) {
    if (lua_getfield(L, -1, library) == LUA_TTABLE) {
        lua_pushcfunction(L, fn);
        lua_setfield(L, -2, name);
    }
    lua_pop(L, 1);
}

/* The library functions the limits must reach into. */
static inline void bmlua_guardlibs(lua_State *L) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    bmlua_replace(L, LUA_COLIBNAME, "resume", bmlua_coresume);
    bmlua_replace(L, LUA_COLIBNAME, "wrap", bmlua_cowrap);
    bmlua_replace(L, LUA_OSLIBNAME, "execute", bmlua_osexecute);
    bmlua_replace(L, LUA_IOLIBNAME, "popen", bmlua_iopopen);
    lua_pop(L, 1);
}

#endif
