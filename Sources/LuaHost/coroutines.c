/*
 * Coroutines the limits can stop: lcorolib.c's resume and wrap (Lua 5.4),
 * keeping lim->resumed.  A thread on that list is alive: its resumer holds it.
 */
#include "host.h"


/* `co` is about to run (`entering`), or its resumer `L` runs again. */
static void bmlua_resumed(bmlua_Limits *lim, lua_State *L, lua_State *co, int entering) {
    bmlua_lock(&lim->resumedlock);
    if (entering) {
        if (lim->nresumed < BMLUA_NESTED) lim->resumed[lim->nresumed] = co;
        lim->nresumed++;
    } else {
        lim->nresumed--;
    }
    bmlua_unlock(&lim->resumedlock);
    if (__atomic_load_n(&lim->tripped, __ATOMIC_SEQ_CST) != BMLUA_TRIP_NONE) bmlua_arm(entering ? co : L);
}

static int bmlua_auxresume(lua_State *L, lua_State *co, int narg) {
    bmlua_Limits *lim = bmlua_limits(L);
    int status, nres;
    if (!lua_checkstack(co, narg)) {
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    lua_xmove(L, co, narg);
    bmlua_resumed(lim, L, co, 1);
    status = lua_resume(co, L, narg, &nres);   /* raises nothing: errors come back as a status */
    bmlua_resumed(lim, L, co, 0);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 1)) {
            lua_pop(co, nres);
            lua_pushliteral(L, "too many results to resume");
            return -1;
        }
        lua_xmove(co, L, nres);
        return nres;
    }
    lua_xmove(co, L, 1);   /* the error */
    return -1;
}

int bmlua_coresume(lua_State *L) {
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    int r = bmlua_auxresume(L, co, lua_gettop(L) - 1);
    if (r < 0) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, -(r + 1));
    return r + 1;
}

static int bmlua_auxwrap(lua_State *L) {
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    int r = bmlua_auxresume(L, co, lua_gettop(L));
    if (r < 0) {
        int stat = lua_status(co);
        if (stat != LUA_OK && stat != LUA_YIELD) {   /* an error in the coroutine: close its tbc variables */
            stat = lua_resetthread(co);
            lua_xmove(co, L, 1);
        }
        if (stat != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
            luaL_where(L, 1);
            lua_insert(L, -2);
            lua_concat(L, 2);
        }
        return lua_error(L);
    }
    return r;
}

int bmlua_cowrap(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, bmlua_auxwrap, 1);
    return 1;
}

