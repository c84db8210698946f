/* GNU readline for `bmlua shell`: line editing and history recall. */
#ifndef BMLUA_READLINE_SHIM_H
#define BMLUA_READLINE_SHIM_H
#include <stdio.h>
#include <readline/readline.h>
#include <readline/history.h>
#endif
