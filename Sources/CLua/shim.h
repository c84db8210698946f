/*
 * shim.h — the C side of bmlua's Lua host.
 *
 * Swift cannot import Lua's function-like macros, and it must never be
 * unwound by lua_error's longjmp.  Everything here is small and static
 * inline so this stays a pure system-library target over liblua5.4.
 *
 * The rule that keeps longjmp out of Swift frames:
 *   - Swift functions exposed to Lua run behind bmlua_trampoline: they return
 *     a status, and only the trampoline (C) calls lua_error.
 *   - While Swift runs, the memory cap is lifted (see bmlua_alloc), so the
 *     pushes Swift makes cannot fail with LUA_ERRMEM; a failure of malloc
 *     itself aborts, since raising there would cross a Swift frame.
 *   - Swift reads and writes tables and globals only with raw accessors, so
 *     no metamethod (user code that could raise) runs under a Swift frame.
 */
#ifndef BMLUA_SHIM_H
#define BMLUA_SHIM_H

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <spawn.h>
#include <unistd.h>
#include <sys/wait.h>
#include <sys/prctl.h>

extern char **environ;

/* The parts, each a concern of its own, in the order they build on each other. */
#include "bm_macros.h"
#include "bm_limits.h"
#include "bm_allocator.h"
#include "bm_coroutines.h"
#include "bm_programs.h"
#include "bm_state.h"
#include "bm_hookcall.h"
#include "bm_trampoline.h"

#endif
