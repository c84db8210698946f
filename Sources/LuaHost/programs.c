#define _GNU_SOURCE   /* pipe2 */
/*
 * os.execute and io.popen, seen by the limits
 *
 * Programs the limits can stop: os.execute and io.popen as loslib.c's and
 * liolib.c's (system(3), popen(3)), but with each program's pid kept while
 * it runs, so that a time trip kills it and all it started (a hook's gzip
 * that hangs on a dead mount).  A pid leaves the list before it is reaped
 * (waitid WNOWAIT first), so no other process's pid is ever killed.
 */
#include "host.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

extern char **environ;

int bmlua_reaporphans = 0;


/* A process's parent and start time from /proc/PID/stat (fields 4 and 22);
   0 if it is gone. */
static int bmlua_procstat(const char *pid, pid_t *parent, unsigned long long *start) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *end = strrchr(buf, ')');   /* the name may hold spaces and parentheses */
    int ppid = 0;
    unsigned long long t = 0;
    if (end == NULL || sscanf(end + 1, " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                              &ppid, &t) != 2) return 0;
    if (parent) *parent = (pid_t)ppid;
    if (start) *start = t;
    return 1;
}

static void bmlua_addchild(bmlua_Limits *lim, pid_t pid) {
    char id[24];
    unsigned long long start = 0;
    snprintf(id, sizeof id, "%d", (int)pid);
    bmlua_procstat(id, NULL, &start);
    bmlua_lock(&lim->childlock);
    if (lim->nchildren < BMLUA_CHILDREN) {
        lim->children[lim->nchildren].pid = pid;
        lim->children[lim->nchildren].clock = lim->clock;
        lim->children[lim->nchildren].start = start;
        lim->nchildren++;
    }
    bmlua_unlock(&lim->childlock);
}

/* Makes this process the reaper of the programs hook calls leave behind: a
   program that detaches (`setsid cmd &`, a daemon) becomes bmlua's child
   instead of init's, so a time trip can still find it (bmlua_killchildren). */
void bmlua_adoptorphans(void) {
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    bmlua_reaporphans = 1;
}

/* Waits for `pid` to end, takes it off the list, reaps it: its wait status,
   or -1 with errno set (another part of the process reaped it). */
static int bmlua_waitchild(bmlua_Limits *lim, pid_t pid) {
    siginfo_t info;
    while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) != 0 && errno == EINTR) { }
    bmlua_lock(&lim->childlock);
    for (int i = 0; i < lim->nchildren; i++) {
        if (lim->children[i].pid == pid) { lim->children[i] = lim->children[--lim->nchildren]; break; }
    }
    bmlua_unlock(&lim->childlock);
    int status;
    pid_t reaped;
    while ((reaped = waitpid(pid, &status, 0)) < 0 && errno == EINTR) { }
    return reaped < 0 ? -1 : status;
}

/* os.execute's and pclose's answer for a wait status from bmlua_waitchild. */
static int bmlua_execresult(lua_State *L, int status) {
    if (status != -1) errno = 0;   /* luaL_execresult reads a nonzero errno as a failure to run */
    return luaL_execresult(L, status);
}

/* sh -c cmd, with `actions` for its file descriptors; 0 or an errno. */
static int bmlua_spawnshell(pid_t *pid, const char *cmd, posix_spawn_file_actions_t *actions,
                                   posix_spawnattr_t *attr) {
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    return posix_spawn(pid, "/bin/sh", actions, attr, argv, environ);
}

int bmlua_osexecute(lua_State *L) {
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
    return bmlua_execresult(L, bmlua_waitchild(lim, pid));
}

/* A popen stream: the io library sees the luaL_Stream at its start. */
typedef struct bmlua_Pipe {
    luaL_Stream stream;
    pid_t pid;
} bmlua_Pipe;

static int bmlua_pclose(lua_State *L) {
    bmlua_Pipe *p = (bmlua_Pipe *)luaL_checkudata(L, 1, LUA_FILEHANDLE);
    fclose(p->stream.f);
    return bmlua_execresult(L, bmlua_waitchild(bmlua_limits(L), p->pid));
}

int bmlua_iopopen(lua_State *L) {
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
static pid_t bmlua_parentof(const char *pid) {
    pid_t parent = 0;
    return bmlua_procstat(pid, &parent, NULL) ? parent : 0;
}

/* Kills `root` and its descendants, found by their parents in /proc (a
   pipeline's processes and a script's children are not one process group). */
static void bmlua_killtree(pid_t root) {
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
void bmlua_killchildren(bmlua_Limits *lim, unsigned long seen) {
    if (__atomic_load_n(&lim->nchildren, __ATOMIC_SEQ_CST) == 0) return;
    bmlua_lock(&lim->childlock);
    unsigned long long since = ~0ULL;
    for (int i = 0; i < lim->nchildren; i++) {
        if (lim->children[i].clock != seen) continue;
        bmlua_killtree(lim->children[i].pid);
        if (lim->children[i].start < since) since = lim->children[i].start;
    }
    /* What the call's programs left behind, detached: orphans that came to
       bmlua (a subreaper) and started after the call's first program. */
    DIR *d = since == ~0ULL || !bmlua_reaporphans ? NULL : opendir("/proc");
    struct dirent *e;
    pid_t self = getpid();
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        pid_t pid = (pid_t)atoi(e->d_name), parent = 0;
        unsigned long long start = 0;
        if (!bmlua_procstat(e->d_name, &parent, &start) || parent != self || start < since) continue;
        int listed = 0;
        for (int i = 0; i < lim->nchildren; i++) if (lim->children[i].pid == pid) listed = 1;
        if (listed) continue;
        bmlua_killtree(pid);
        waitpid(pid, NULL, 0);   /* bmlua's child now: reaped here, nobody else waits for it */
    }
    if (d) closedir(d);
    bmlua_unlock(&lim->childlock);
}

