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

extern char **environ;

/* ---------------------------------------------------------------------
 * Macro wrappers
 * ------------------------------------------------------------------- */

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

/* ---------------------------------------------------------------------
 * Limits: the capping allocator and the count hook
 * ------------------------------------------------------------------- */

/* TIME: the watchdog; MEMORY: the allocator; INTERRUPT: Ctrl-C (a signal handler). */
enum { BMLUA_TRIP_NONE = 0, BMLUA_TRIP_TIME = 1, BMLUA_TRIP_MEMORY = 2, BMLUA_TRIP_INTERRUPT = 3 };

/* Small blocks come in classes of 16 bytes up to 256; at most 1 MiB of freed
   ones is kept for reuse. */
enum { BMLUA_CLASSES = 16, BMLUA_POOL_BYTES = 1 << 20 };

/* Coroutines resumed one inside another: more than Lua's C-call limit
   (LUAI_MAXCCALLS, 200) lets a chain reach. */
enum { BMLUA_NESTED = 256 };

/* Programs started by Lua code and not yet waited for, that a time trip can kill. */
enum { BMLUA_CHILDREN = 64 };

typedef struct bmlua_Limits {
    lua_State *L;
    size_t used;             /* bytes held by the state */
    size_t cap;              /* 0: no cap */
    int capped;              /* cap enforced: only while user Lua code runs */
    volatile sig_atomic_t tripped;   /* BMLUA_TRIP_* */
    volatile sig_atomic_t running;   /* user code runs: an interrupt may trip it */
    /* Registry refs of the error values the count hook raises: made up front
       so raising them never allocates (memory may be exhausted by then). */
    int timeref, memoryref, interruptref;
    /* The time limit without locks or clock reads on the hot path: the host
       bumps `clock` when an outermost timed call begins and again when it
       ends (odd: a call runs).  The watchdog thread, seeing one odd value
       for longer than the limit, records it in `tripclock` and arms the
       count hook; the hook raises only if that call is still the one running. */
    unsigned long clock;
    unsigned long tripclock;
    /* Registry refs of the strings "bhin", "bhout", "bhout2", "bhtemp": pushing
       a name by C string costs a cache lookup and a strcmp on every call. */
    int key_bhin, key_bhout, key_bhout2, key_bhtemp;
    /* The last request refused: Lua answers a refusal with an emergency
       collection and asks again; only a refused retry is out of memory. */
    void *refusedptr;
    size_t refusedsize;
    /* The coroutines being resumed, outermost first, and the lock that keeps
       their list whole for a trip from another thread (see bmlua_trip). */
    lua_State *resumed[BMLUA_NESTED];
    int nresumed;
    volatile char resumedlock;
    /* The programs os.execute and io.popen run, each with the clock of the
       call that started it, and the lock that keeps a time trip from killing
       a pid once reaped (see bmlua_killchildren). */
    struct { pid_t pid; unsigned long clock; } children[BMLUA_CHILDREN];
    int nchildren;
    volatile char childlock;
    /* Freed small blocks kept for reuse, by size class (see bmlua_alloc). */
    void *pool[BMLUA_CLASSES + 1];
    size_t pooled;           /* bytes held in `pool` */
} bmlua_Limits;

static inline unsigned long bmlua_clock(bmlua_Limits *lim) {
    return __atomic_load_n(&lim->clock, __ATOMIC_ACQUIRE);
}
static inline void bmlua_tick(bmlua_Limits *lim) {
    __atomic_store_n(&lim->clock, lim->clock + 1, __ATOMIC_RELEASE);
}

static inline void bmlua_untrip(bmlua_Limits *lim) {
    lua_sethook(lim->L, NULL, 0, 0);
    lim->tripped = BMLUA_TRIP_NONE;
}

/* Runs at every instruction, call and return of a thread once armed;
   re-raises until the call has unwound, so a pcall inside the hook cannot
   swallow the limit. */
static inline void bmlua_counthook(lua_State *L, lua_Debug *ar) {
    void *ud;
    (void)ar;
    lua_getallocf(L, &ud);
    bmlua_Limits *lim = (bmlua_Limits *)ud;
    if (lim->tripped == BMLUA_TRIP_NONE) {
        lua_sethook(L, NULL, 0, 0);   /* a coroutine armed for a trip since reset */
        return;
    }
    if (lim->tripped == BMLUA_TRIP_TIME &&
        __atomic_load_n(&lim->tripclock, __ATOMIC_ACQUIRE) != lim->clock) {
        /* The watchdog was late: the call it meant has ended. */
        lua_sethook(L, NULL, 0, 0);
        bmlua_untrip(lim);
        return;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, lim->tripped == BMLUA_TRIP_TIME ? lim->timeref
                                    : lim->tripped == BMLUA_TRIP_MEMORY ? lim->memoryref : lim->interruptref);
    lua_error(L);
}

/* Lua documents lua_sethook as safe to call asynchronously (lua.c calls it
   from a signal handler): the watchdog thread uses it to stop a hook. */
static inline void bmlua_arm(lua_State *L) {
    lua_sethook(L, bmlua_counthook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* Spin locks for what the watchdog thread reads: held for a few stores. */
static inline int bmlua_trylock(volatile char *lock) { return !__atomic_test_and_set(lock, __ATOMIC_SEQ_CST); }
static inline void bmlua_lock(volatile char *lock) { while (!bmlua_trylock(lock)) { } }
static inline void bmlua_unlock(volatile char *lock) { __atomic_clear(lock, __ATOMIC_SEQ_CST); }

/* Hooks belong to one thread, and while a coroutine runs the main thread
   runs no instruction: so a trip arms the main thread and every coroutine
   being resumed (lim->resumed, kept by bmlua_auxresume).  It only tries the
   lock that guards that list, since it may interrupt its holder (a signal
   handler, or the allocator): the holder looks at `tripped` once it lets go
   and arms the thread it runs next itself. */
static inline void bmlua_trip(bmlua_Limits *lim, int why) {
    __atomic_store_n(&lim->tripped, why, __ATOMIC_SEQ_CST);
    bmlua_arm(lim->L);
    if (bmlua_trylock(&lim->resumedlock)) {
        for (int i = 0; i < lim->nresumed && i < BMLUA_NESTED; i++) bmlua_arm(lim->resumed[i]);
        bmlua_unlock(&lim->resumedlock);
    }
}

/* Ctrl-C's side (a signal handler, or another thread): stops the code that
   runs now, if any. */
static inline void bmlua_interrupt(bmlua_Limits *lim) {
    if (lim->running) bmlua_trip(lim, BMLUA_TRIP_INTERRUPT);
}

/* The watchdog's side: `seen` is the running call's clock; trips it if
   still running, and says whether it did. */
static inline int bmlua_timetrip(bmlua_Limits *lim, unsigned long seen) {
    __atomic_store_n(&lim->tripclock, seen, __ATOMIC_RELEASE);
    if (bmlua_clock(lim) != seen) return 0;
    bmlua_trip(lim, BMLUA_TRIP_TIME);
    return 1;
}

/* ---------------------------------------------------------------------
 * Coroutines the limits can stop: lcorolib.c's resume and wrap (Lua 5.4),
 * keeping lim->resumed.  A thread on that list is alive: its resumer holds it.
 * ------------------------------------------------------------------- */

/* `co` is about to run (`entering`), or its resumer `L` runs again. */
static inline void bmlua_resumed(bmlua_Limits *lim, lua_State *L, lua_State *co, int entering) {
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

static inline int bmlua_auxresume(lua_State *L, lua_State *co, int narg) {
    void *ud;
    int status, nres;
    lua_getallocf(L, &ud);
    if (!lua_checkstack(co, narg)) {
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    lua_xmove(L, co, narg);
    bmlua_resumed((bmlua_Limits *)ud, L, co, 1);
    status = lua_resume(co, L, narg, &nres);   /* raises nothing: errors come back as a status */
    bmlua_resumed((bmlua_Limits *)ud, L, co, 0);
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

static inline int bmlua_coresume(lua_State *L) {
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

static inline int bmlua_auxwrap(lua_State *L) {
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

static inline int bmlua_cowrap(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, bmlua_auxwrap, 1);
    return 1;
}

/* ---------------------------------------------------------------------
 * Programs the limits can stop: os.execute and io.popen as loslib.c's and
 * liolib.c's (system(3), popen(3)), but with each program's pid kept while
 * it runs, so that a time trip kills it and all it started (a hook's gzip
 * that hangs on a dead mount).  A pid leaves the list before it is reaped
 * (waitid WNOWAIT first), so no other process's pid is ever killed.
 * ------------------------------------------------------------------- */

static inline bmlua_Limits *bmlua_limits(lua_State *L) {
    void *ud;
    lua_getallocf(L, &ud);
    return (bmlua_Limits *)ud;
}

static inline void bmlua_addchild(bmlua_Limits *lim, pid_t pid) {
    bmlua_lock(&lim->childlock);
    if (lim->nchildren < BMLUA_CHILDREN) {
        lim->children[lim->nchildren].pid = pid;
        lim->children[lim->nchildren].clock = lim->clock;
        lim->nchildren++;
    }
    bmlua_unlock(&lim->childlock);
}

/* Waits for `pid` to end, takes it off the list, reaps it: its wait status. */
static inline int bmlua_waitchild(bmlua_Limits *lim, pid_t pid) {
    siginfo_t info;
    while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) != 0 && errno == EINTR) { }
    bmlua_lock(&lim->childlock);
    for (int i = 0; i < lim->nchildren; i++) {
        if (lim->children[i].pid == pid) { lim->children[i] = lim->children[--lim->nchildren]; break; }
    }
    bmlua_unlock(&lim->childlock);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) { }
    return status;
}

/* sh -c cmd, with `actions` for its file descriptors; 0 or an errno. */
static inline int bmlua_spawnshell(pid_t *pid, const char *cmd, posix_spawn_file_actions_t *actions,
                                   posix_spawnattr_t *attr) {
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    return posix_spawn(pid, "/bin/sh", actions, attr, argv, environ);
}

static inline int bmlua_osexecute(lua_State *L) {
    const char *cmd = luaL_optstring(L, 1, NULL);
    if (cmd == NULL) {   /* is there a shell? */
        lua_pushboolean(L, access("/bin/sh", X_OK) == 0);
        return 1;
    }
    bmlua_Limits *lim = bmlua_limits(L);
    /* As system(3): the child gets back Ctrl-C's and Ctrl-\'s defaults unless
       they were ignored.  Unlike it, bmlua's own handler keeps running, so
       Ctrl-C stops the hook as well as its program. */
    sigset_t defaults;
    sigemptyset(&defaults);
    struct sigaction old;
    if (sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler != SIG_IGN) sigaddset(&defaults, SIGINT);
    if (sigaction(SIGQUIT, NULL, &old) == 0 && old.sa_handler != SIG_IGN) sigaddset(&defaults, SIGQUIT);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int rc = bmlua_spawnshell(&pid, cmd, NULL, &attr);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        errno = rc;
        return luaL_execresult(L, -1);
    }
    bmlua_addchild(lim, pid);
    int status = bmlua_waitchild(lim, pid);
    errno = 0;   /* luaL_execresult reads a nonzero errno as a failure to run */
    return luaL_execresult(L, status);
}

/* A popen stream: the io library sees the luaL_Stream at its start. */
typedef struct bmlua_Pipe {
    luaL_Stream stream;
    pid_t pid;
} bmlua_Pipe;

static inline int bmlua_pclose(lua_State *L) {
    bmlua_Pipe *p = (bmlua_Pipe *)luaL_checkudata(L, 1, LUA_FILEHANDLE);
    fclose(p->stream.f);
    int status = bmlua_waitchild(bmlua_limits(L), p->pid);
    errno = 0;
    return luaL_execresult(L, status);
}

static inline int bmlua_iopopen(lua_State *L) {
    const char *cmd = luaL_checkstring(L, 1);
    const char *mode = luaL_optstring(L, 2, "r");
    luaL_argcheck(L, (mode[0] == 'r' || mode[0] == 'w') && mode[1] == '\0', 2, "invalid mode");
    bmlua_Pipe *p = (bmlua_Pipe *)lua_newuserdatauv(L, sizeof(bmlua_Pipe), 0);
    p->stream.f = NULL;
    p->stream.closef = NULL;   /* closed, until it is open */
    luaL_setmetatable(L, LUA_FILEHANDLE);
    int fds[2], rc;
    int theirs = mode[0] == 'r' ? 1 : 0;   /* the child's end: its stdout, or its stdin */
    if (pipe2(fds, O_CLOEXEC) != 0) return luaL_fileresult(L, 0, cmd);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[theirs], theirs);
    rc = bmlua_spawnshell(&p->pid, cmd, &actions, NULL);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[theirs]);
    if (rc == 0) p->stream.f = fdopen(fds[1 - theirs], mode);
    if (p->stream.f == NULL) {
        int e = rc ? rc : errno;
        close(fds[1 - theirs]);
        if (rc == 0) { kill(p->pid, SIGKILL); waitpid(p->pid, NULL, 0); }
        errno = e;
        return luaL_fileresult(L, 0, cmd);
    }
    bmlua_addchild(bmlua_limits(L), p->pid);
    p->stream.closef = bmlua_pclose;
    return 1;
}

/* The parent of process `pid`, from /proc/PID/stat ("pid (comm) state ppid …",
   comm may hold spaces and parentheses); 0 if unknown. */
static inline pid_t bmlua_parentof(const char *pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *end = strrchr(buf, ')');
    int ppid = 0;
    if (end == NULL || sscanf(end + 1, " %*c %d", &ppid) != 1) return 0;
    return (pid_t)ppid;
}

/* Kills `root` and its descendants, found by their parents in /proc (a
   pipeline's processes and a script's children are not one process group). */
static inline void bmlua_killtree(pid_t root) {
    struct { pid_t pid, parent; int doomed; } *procs = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        if (n == cap) {
            void *grown = realloc(procs, (cap = cap ? 2 * cap : 512) * sizeof *procs);
            if (grown == NULL) break;
            procs = grown;
        }
        procs[n].pid = (pid_t)atoi(e->d_name);
        procs[n].parent = bmlua_parentof(e->d_name);
        procs[n].doomed = procs[n].pid == root;
        n++;
    }
    if (d) closedir(d);
    /* A process whose parent is doomed is doomed, to the last generation. */
    for (int changed = 1; changed; ) {
        changed = 0;
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; !procs[i].doomed && j < n; j++) {
                if (procs[j].doomed && procs[j].pid == procs[i].parent) procs[i].doomed = changed = 1;
            }
        }
    }
    kill(root, SIGKILL);
    for (size_t i = 0; i < n; i++) if (procs[i].doomed) kill(procs[i].pid, SIGKILL);
    free(procs);
}

/* The watchdog's side of a time trip of the call with clock `seen`: kills the
   programs that call started and has not waited for yet. */
static inline void bmlua_killchildren(bmlua_Limits *lim, unsigned long seen) {
    if (__atomic_load_n(&lim->nchildren, __ATOMIC_SEQ_CST) == 0) return;
    bmlua_lock(&lim->childlock);
    for (int i = 0; i < lim->nchildren; i++) {
        if (lim->children[i].clock == seen) bmlua_killtree(lim->children[i].pid);
    }
    bmlua_unlock(&lim->childlock);
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

/* Every hook call allocates a fresh bhin table and frees the last one, and
   Lua frees in bursts (a sweep) and allocates one by one: malloc's own caches
   are too small for that pattern.  So freed blocks of up to 256 bytes are
   kept on per-class free lists (Lua passes the old size on every call, so no
   header is needed).  Every block still comes from malloc, at least as large
   as Lua believes, so any block may also go back to free(). */
static inline size_t bmlua_class(size_t n) { return (n + 15) >> 4; }

static inline void *bmlua_smallget(bmlua_Limits *lim, size_t c) {
    void *p = lim->pool[c];
    if (p == NULL) return malloc(c << 4);
    lim->pool[c] = *(void **)p;
    lim->pooled -= c << 4;
    return p;
}

static inline void bmlua_release(bmlua_Limits *lim, void *p, size_t size) {
    size_t c = bmlua_class(size);
    if (c > BMLUA_CLASSES || lim->pooled + (c << 4) > BMLUA_POOL_BYTES) {
        free(p);
        return;
    }
    *(void **)p = lim->pool[c];
    lim->pool[c] = p;
    lim->pooled += c << 4;
}

/* Frees the cached blocks: after lua_close. */
static inline void bmlua_drainpool(bmlua_Limits *lim) {
    for (size_t c = 1; c <= BMLUA_CLASSES; c++) {
        while (lim->pool[c]) {
            void *p = lim->pool[c];
            lim->pool[c] = *(void **)p;
            free(p);
        }
    }
    lim->pooled = 0;
}

/* A new block of `n` bytes: from the pool when it is small. */
static inline void *bmlua_get(bmlua_Limits *lim, size_t n) {
    size_t c = bmlua_class(n);
    return c <= BMLUA_CLASSES ? bmlua_smallget(lim, c) : malloc(n);
}

/* realloc over the pool: `old` is the size Lua believes the block has. */
static inline void *bmlua_realloc(bmlua_Limits *lim, void *ptr, size_t old, size_t nsize) {
    if (ptr == NULL) return bmlua_get(lim, nsize);
    size_t oc = bmlua_class(old), nc = bmlua_class(nsize);
    if (oc > BMLUA_CLASSES && nc > BMLUA_CLASSES) return realloc(ptr, nsize);
    if (oc == nc) return ptr;
    void *p = bmlua_get(lim, nsize);
    if (p == NULL) return NULL;
    memcpy(p, ptr, old < nsize ? old : nsize);
    bmlua_release(lim, ptr, old);
    return p;
}

static inline void *bmlua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    bmlua_Limits *lim = (bmlua_Limits *)ud;
    size_t old = ptr ? osize : 0;   /* with ptr == NULL, osize is a type tag */
    if (nsize == 0) {
        if (ptr) bmlua_release(lim, ptr, old);
        lim->used -= old;
        return NULL;
    }
    if (nsize > old && lim->capped && lim->cap && lim->used - old + nsize > lim->cap) {
        if (lim->L && ptr == lim->refusedptr && nsize == lim->refusedsize) {
            bmlua_trip(lim, BMLUA_TRIP_MEMORY);
        }
        lim->refusedptr = ptr;
        lim->refusedsize = nsize;
        return NULL;
    }
    lim->refusedptr = NULL;
    lim->refusedsize = 0;
    void *p = bmlua_realloc(lim, ptr, old, nsize);
    if (p == NULL) {
        if (nsize <= old) {             /* a shrink never fails: the block stays as it was */
            lim->used = lim->used - old + nsize;
            return ptr;
        }
        if (!lim->capped) abort();      /* see the rule at the top of this file */
        return NULL;
    }
    lim->used = lim->used - old + nsize;
    return p;
}

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

/* ---------------------------------------------------------------------
 * The fixed steps of a hook call (DESIGN §4), kept in C: they run on every call
 * ------------------------------------------------------------------- */

#define bmlua_pushkey(L, lim, k) lua_rawgeti(L, LUA_REGISTRYINDEX, (lim)->key_##k)

/* A hook call's stack, from `base` (the top before bmlua_hookbegin):
     base+1  the globals table, reached once and kept for the whole call
     base+2  the old bhtemp, for the host to delete if it made that file
     base+3  the new bhin, filled by the host, then the chunk to call
   Every global is read and written raw: no user metamethod runs here. */

/* Clears bhtemp, bhout and bhout2 and pushes the three slots above, the new
   bhin table with room for `narr` values on top.  Returns the old bhtemp's type. */
static inline int bmlua_hookbegin(lua_State *L, bmlua_Limits *lim, int narr) {
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

/* Stores the filled table as bhin and pushes chunk `ref` in its place, ready to call. */
static inline void bmlua_hookload(lua_State *L, bmlua_Limits *lim, int base, int ref) {
    bmlua_pushkey(L, lim, bhin);
    lua_insert(L, -2);
    lua_rawset(L, base + 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
}

/* After the call: pushes bhout, then bhout2. */
static inline void bmlua_hookresults(lua_State *L, bmlua_Limits *lim, int base) {
    bmlua_pushkey(L, lim, bhout);  lua_rawget(L, base + 1);
    bmlua_pushkey(L, lim, bhout2); lua_rawget(L, base + 1);
}

/* ---------------------------------------------------------------------
 * Swift functions called from Lua
 * ------------------------------------------------------------------- */

/* Returns the number of results pushed, or -1 with the error value on top. */
typedef int (*bmlua_SwiftFunction)(lua_State *L, void *box);

static inline int bmlua_trampoline(lua_State *L) {
    bmlua_SwiftFunction fn = (bmlua_SwiftFunction)lua_touserdata(L, lua_upvalueindex(1));
    void *box = lua_touserdata(L, lua_upvalueindex(2));
    void *ud;
    lua_getallocf(L, &ud);
    bmlua_Limits *lim = (bmlua_Limits *)ud;
    int saved = lim->capped;
    lim->capped = 0;
    int n = fn(L, box);
    lim->capped = saved;
    if (n < 0) return lua_error(L);
    return n;
}

/* Pushes a closure that calls `fn` with `box` (both light userdata). */
static inline void bmlua_pushswiftfunction(lua_State *L, bmlua_SwiftFunction fn, void *box) {
    lua_pushlightuserdata(L, (void *)fn);
    lua_pushlightuserdata(L, box);
    lua_pushcclosure(L, bmlua_trampoline, 2);
}

#endif
