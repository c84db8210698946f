/*
 * luahost.h — the C side of bmlua's Lua host, as Swift sees it.
 *
 * Swift cannot import Lua's function-like macros, and it must never be
 * unwound by lua_error's longjmp.  The rule that keeps longjmp out of Swift
 * frames:
 *   - Swift functions exposed to Lua run behind the trampoline: they return
 *     a status, and only the trampoline (C) calls lua_error.
 *   - While Swift runs, the memory cap is lifted, so the pushes Swift makes
 *     cannot fail with LUA_ERRMEM; a failure of malloc itself aborts, since
 *     raising there would cross a Swift frame.
 *   - Swift reads and writes tables and globals only with raw accessors, so
 *     no metamethod (user code that could raise) runs under a Swift frame.
 *
 * The limits (memory, time, Ctrl-C) are an opaque bmlua_Limits, owned by C
 * from the state's creation to its close: Swift starts a limited call with
 * bmlua_call and is told what, if anything, stopped it.
 */
#ifndef LUAHOST_H
#define LUAHOST_H

#include <stddef.h>
#include <stdint.h>

struct lua_State;
typedef struct bmlua_Limits bmlua_Limits;

/* What stopped a call: the watchdog (TIME), the allocator (MEMORY), Ctrl-C (INTERRUPT). */
enum { BMLUA_TRIP_NONE = 0, BMLUA_TRIP_TIME = 1, BMLUA_TRIP_MEMORY = 2, BMLUA_TRIP_INTERRUPT = 3 };

/* bmlua_call's flags: a hook call (under the time limit); a script (a traceback on errors). */
enum { BMLUA_CALL_TIMED = 1, BMLUA_CALL_TRACEBACK = 2 };

/* At most this many freed small blocks' bytes are kept for reuse. */
enum { BMLUA_POOL_BYTES = 1 << 20 };

/* ---- A state under limits (state.c) ---- */

/* A new state with the standard libraries, os.exit taken out, and
   coroutines, os.execute and io.popen the limits can stop.  NULL if out of memory. */
struct lua_State *bmlua_open(bmlua_Limits **limits);
/* Closes the state (its finalizers run as a timed call), stops the watchdog, frees the limits. */
void bmlua_close(struct lua_State *L, bmlua_Limits *lim);

/* 0: no cap. */
void bmlua_setmemorylimit(bmlua_Limits *lim, size_t bytes);
/* A negative limit: none. */
void bmlua_settimelimit(bmlua_Limits *lim, double seconds);
/* The watchdog's clock, in nanoseconds (NULL: CLOCK_MONOTONIC): tests drive the limit with their own. */
void bmlua_setwatchclock(bmlua_Limits *lim, unsigned long long (*now)(void));
/* How the watchdog introduces itself when a call does not stop and it ends the process. */
void bmlua_setovertimelabel(bmlua_Limits *lim, const char *label);
/* Bytes the state holds, and bytes of freed blocks kept for reuse. */
size_t bmlua_memoryused(const bmlua_Limits *lim);
size_t bmlua_pooled(const bmlua_Limits *lim);

/* ---- Running user code (call.c) ---- */

/* Calls the function below the top `nargs` values, as lua_pcall, under the
   limits: the cap holds for exactly the call, a TIMED outermost call runs
   under the watchdog, and Ctrl-C stops it.  Returns Lua's status and sets
   *stopped to the trip that ended this call (a trip meant for an earlier
   call is not this call's).  Nested calls (Lua -> Swift -> Lua) are fine. */
int bmlua_call(struct lua_State *L, bmlua_Limits *lim, int nargs, int nresults, int flags, int *stopped);

/* Stops the code the state runs now, if any (another thread may call it). */
void bmlua_interrupt(bmlua_Limits *lim);

/* ---- Ctrl-C (interrupt.c), the process's: its handler is C's, as lua.c's laction ---- */

/* Installs the SIGINT/SIGTERM handler.  With `stopslua`, the first signal
   also stops the Lua code the newest state runs. A second quits (130). */
void bmlua_catchinterrupts(int stopslua);
/* Ctrl-C's default again. */
void bmlua_releaseinterrupts(void);
/* Signals received since bmlua_catchinterrupts. */
int bmlua_interrupts(void);
/* The Lua code stopped: the note that it has not is no longer due. */
void bmlua_interruptdelivered(void);

/* ---- Programs hooks start (programs.c) ---- */

/* Makes this process the reaper of what hook programs leave behind, so a
   time trip also kills those (for a program whose only children are hooks'). */
void bmlua_adoptorphans(void);

/* ---- A hook call's fixed steps (hookcall.c) ----
   Its stack, from `base` (the top before bmlua_hookbegin):
     base+1  the globals table, reached once and kept for the whole call
     base+2  the old bhtemp, for the host to delete if it made that file
     base+3  the new bhin, filled by the host, then the chunk to call
   Every global is read and written raw: no user metamethod runs here. */

/* Clears bhtemp, bhout and bhout2 and pushes the three slots above, the new
   bhin table with room for `narr` values on top.  Returns the old bhtemp's type. */
int bmlua_hookbegin(struct lua_State *L, bmlua_Limits *lim, int narr);
/* Stores the filled table as bhin and pushes chunk `ref` in its place, ready to call. */
void bmlua_hookload(struct lua_State *L, bmlua_Limits *lim, int base, int ref);
/* After the call: pushes bhout, then bhout2. */
void bmlua_hookresults(struct lua_State *L, bmlua_Limits *lim, int base);

/* ---- Swift functions called from Lua (trampoline.c) ---- */

/* Returns the number of results pushed, or -1 with the error value on top. */
typedef int (*bmlua_SwiftFunction)(struct lua_State *L, void *box);
/* Pushes a closure that calls `fn` with `box`. */
void bmlua_pushswiftfunction(struct lua_State *L, bmlua_SwiftFunction fn, void *box);

/* ---- Lua's macros as functions (macros.c) ---- */

int bmlua_registryindex(void);
void bmlua_pop(struct lua_State *L, int n);
int bmlua_isinteger(struct lua_State *L, int i);
long long bmlua_tointeger(struct lua_State *L, int i);
double bmlua_tonumber(struct lua_State *L, int i);
/* Only for values whose type is LUA_TSTRING: no conversion, no allocation. */
const char *bmlua_tolstring(struct lua_State *L, int i, size_t *len);
/* Raw access to the globals table: a metatable set on _G is never consulted. */
void bmlua_rawgetglobal(struct lua_State *L, const char *name);
/* Pops a value and stores it as global `name`. */
void bmlua_rawsetglobal(struct lua_State *L, const char *name);
/* t[name] = value (popped), raw, for the table at index t. */
void bmlua_rawsetfield(struct lua_State *L, int t, const char *name);

#endif
