/*
 * Ctrl-C (and SIGTERM), the process's, as lua.c's laction: the handler is C
 * on C statics.  The first signal asks the work to stop between two files
 * (the host polls bmlua_interrupts) and, where the work is Lua code, stops
 * that code too; the second quits at once (130, as restic and shells use).
 */
#include "host.h"
#include <string.h>
#include <unistd.h>

static bmlua_Limits *volatile interruptible;   /* the newest state's */
static volatile sig_atomic_t received;
static volatile sig_atomic_t stopslua;

void bmlua_setinterruptible(bmlua_Limits *lim) { interruptible = lim; }
void bmlua_clearinterruptible(bmlua_Limits *lim) {
    if (interruptible == lim) interruptible = NULL;
}

static void bmlua_say(const char *note) { (void)!write(2, note, strlen(note)); }

/* Code Lua runs with its hooks off or a blocking call does not see the first Ctrl-C. */
static void bmlua_onlate(int sig) {
    (void)sig;
    bmlua_say("\nbmlua: the Lua code has not stopped (it runs with Lua's hooks off or waits in a system call); press Ctrl-C again to quit at once\n");
}

static void bmlua_onsignal(int sig) {
    (void)sig;
    if (++received > 1) _exit(130);
    if (stopslua) {
        bmlua_Limits *lim = interruptible;
        if (lim) bmlua_interrupt(lim);
        alarm(2);   /* if the code has not stopped by then, bmlua_onlate says so */
        return;
    }
    bmlua_say("\nbmlua: stopping after the current file (press Ctrl-C again to quit at once)\n");
}

static void bmlua_handle(int sig, void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(sig, &action, NULL);
}

/* A real handler, not SIG_IGN: programs the work starts (the user-callback,
   a hook's gzip) get the default action back when they exec. */
void bmlua_catchinterrupts(int stoplua) {
    received = 0;
    stopslua = stoplua;
    bmlua_handle(SIGINT, bmlua_onsignal);
    bmlua_handle(SIGTERM, bmlua_onsignal);
    bmlua_handle(SIGALRM, bmlua_onlate);
    /* A parent may have started bmlua with them blocked (blocked masks are inherited). */
    sigset_t wanted;
    sigemptyset(&wanted);
    sigaddset(&wanted, SIGINT);
    sigaddset(&wanted, SIGTERM);
    sigaddset(&wanted, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &wanted, NULL);
}

void bmlua_releaseinterrupts(void) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

int bmlua_interrupts(void) { return received; }
void bmlua_interruptdelivered(void) { alarm(0); }
