/* A state under the limits: made with them, closed with them. */
#include "host.h"
#include <stdio.h>
#include <stdlib.h>

static int bmlua_panic(lua_State *L) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "bmlua: unprotected Lua error: %s\n", msg ? msg : "?");
    abort();
}

/* library[name] = fn, in the table require(library) gives; on the loaded table's top. */
static void bmlua_replace(lua_State *L, const char *library, const char *name, lua_CFunction fn) {
    if (lua_getfield(L, -1, library) == LUA_TTABLE) {
        lua_pushcfunction(L, fn);
        lua_setfield(L, -2, name);
    }
    lua_pop(L, 1);
}

static int bmlua_ref(lua_State *L, const char *s) {
    lua_pushstring(L, s);
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

lua_State *bmlua_open(bmlua_Limits **limits) {
    bmlua_Limits *lim = calloc(1, sizeof *lim);
    if (lim == NULL) return NULL;
    lua_State *L = lua_newstate(bmlua_alloc, lim);
    if (L == NULL) { free(lim); return NULL; }
    lim->L = L;
    pthread_mutex_init(&lim->watchlock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&lim->watchwake, &attr);
    pthread_condattr_destroy(&attr);
    snprintf(lim->overtime, sizeof lim->overtime, "%s", "Lua code ran past its time limit");
    lua_atpanic(L, bmlua_panic);
    /* Each hook call leaves a small dead bhin table, and a collection cycle
       marks the whole standard library: waiting until the heap has grown 4x
       (not 2x) makes that marking a third as costly per call. */
    lua_gc(L, LUA_GCINC, 400, 0, 0);
    lim->timeref = bmlua_ref(L, "time limit exceeded");
    lim->memoryref = bmlua_ref(L, "not enough memory (memory limit exceeded)");
    lim->interruptref = bmlua_ref(L, "interrupted!");
    lim->key_bhin = bmlua_ref(L, "bhin");
    lim->key_bhout = bmlua_ref(L, "bhout");
    lim->key_bhout2 = bmlua_ref(L, "bhout2");
    lim->key_bhtemp = bmlua_ref(L, "bhtemp");
    luaL_openlibs(L);
    /* os.exit would end the process in the middle of a transaction. */
    lua_getglobal(L, LUA_OSLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "exit");
    lua_pop(L, 1);
    /* The library functions the limits must reach into. */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    bmlua_replace(L, LUA_COLIBNAME, "resume", bmlua_coresume);
    bmlua_replace(L, LUA_COLIBNAME, "wrap", bmlua_cowrap);
    bmlua_replace(L, LUA_OSLIBNAME, "execute", bmlua_osexecute);
    bmlua_replace(L, LUA_IOLIBNAME, "popen", bmlua_iopopen);
    lua_pop(L, 1);
    bmlua_setinterruptible(lim);
    *limits = lim;
    return L;
}

void bmlua_close(lua_State *L, bmlua_Limits *lim) {
    bmlua_clearinterruptible(lim);
    /* Closing runs the finalizers hooks left, with Lua's hooks off: under
       the watchdog as a call, so that one that loops ends the process at
       limit and grace, after the work was committed, not hangs it. */
    int timed = lim->watching && (bmlua_clock(lim) & 1) == 0;
    if (timed) bmlua_tick(lim);
    lua_close(L);
    if (timed) bmlua_tick(lim);
    bmlua_unwatch(lim);
    bmlua_drainpool(lim);
    pthread_cond_destroy(&lim->watchwake);
    pthread_mutex_destroy(&lim->watchlock);
    free(lim);
}
