/* Lua 5.4's own headers (liblua5.4-dev); bmlua's C side is the LuaHost target. */
#ifndef BMLUA_CLUA_H
#define BMLUA_CLUA_H
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#endif
