/* The capping allocator and its pool of small blocks. */
#include "host.h"
#include <stdlib.h>
#include <string.h>


/* Every hook call allocates a fresh bhin table and frees the last one, and
   Lua frees in bursts (a sweep) and allocates one by one: malloc's own caches
   are too small for that pattern.  So freed blocks of up to 256 bytes are
   kept on per-class free lists (Lua passes the old size on every call, so no
   header is needed).  Every block still comes from malloc, at least as large
   as Lua believes, so any block may also go back to free(). */
static size_t bmlua_class(size_t n) { return (n + 15) >> 4; }

static void *bmlua_smallget(bmlua_Limits *lim, size_t c) {
    void *p = lim->pool[c];
    if (p == NULL) return malloc(c << 4);
    lim->pool[c] = *(void **)p;
    lim->pooled -= c << 4;
    return p;
}

static void bmlua_release(bmlua_Limits *lim, void *p, size_t size) {
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
void bmlua_drainpool(bmlua_Limits *lim) {
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
static void *bmlua_get(bmlua_Limits *lim, size_t n) {
    size_t c = bmlua_class(n);
    return c <= BMLUA_CLASSES ? bmlua_smallget(lim, c) : malloc(n);
}

/* realloc over the pool: `old` is the size Lua believes the block has. */
static void *bmlua_realloc(bmlua_Limits *lim, void *ptr, size_t old, size_t nsize) {
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

void *bmlua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
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
        if (!lim->capped) abort();      /* see the rule at the top of luahost.h */
        return NULL;
    }
    lim->used = lim->used - old + nsize;
    return p;
}

