/* The floor of a first backup and of a full restore: the least a program
 * can do and still do bmlua's work, so a target it cannot beat is known to
 * be out of reach.
 *
 * store: for every regular file under TREE, open it, read it once while
 *   hashing it (SHA-256) and writing it to a file with no name (O_TMPFILE in
 *   REPO/tmp), then link it as REPO/objects/ab/<sha256>. No catalog, no metadata, no
 *   browse view, no hooks: a first snapshot can only be slower than this.
 * copy: every regular file under SRC written to the same place under DST
 *   through a temp file and a rename, with its mode and mtime: what a restore
 *   writes, without a catalog to read or a hook to run.
 * Both use THREADS threads and end with one syncfs.
 *
 * usage: floor store TREE REPO THREADS | floor copy SRC DST THREADS
 *        (REPO and DST are made; they must not exist)
 * build: cc -O2 -pthread -o floor floor.c -lcrypto
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char **files, **dirs;
static size_t nfiles, capfiles, ndirs, capdirs;
static size_t rootlen;   /* the walked root's length: files[i] + rootlen is its place below it */
static atomic_size_t next_file, next_temp;
static int tmpfd, objfd;

static void die(const char *what, const char *name) {
    fprintf(stderr, "floor: %s %s: %s\n", what, name, strerror(errno));
    exit(1);
}

static void walk(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) die("cannot open", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *path;
        if (asprintf(&path, "%s/%s", dir, e->d_name) < 0) die("out of memory", dir);
        if (e->d_type == DT_DIR) {
            if (ndirs == capdirs) {
                capdirs = capdirs ? capdirs * 2 : 1024;
                dirs = realloc(dirs, capdirs * sizeof *dirs);
            }
            dirs[ndirs++] = path;
            walk(path);
            continue;
        }
        if (e->d_type != DT_REG) { free(path); continue; }
        if (nfiles == capfiles) {
            capfiles = capfiles ? capfiles * 2 : 1024;
            files = realloc(files, capfiles * sizeof *files);
        }
        files[nfiles++] = path;
    }
    closedir(d);
}

static int dstfd;

/* The next file no thread has taken, opened: its descriptor, or -1 when none is left. */
static int take(size_t *i) {
    *i = atomic_fetch_add(&next_file, 1);
    if (*i >= nfiles) return -1;
    int in = open(files[*i], O_RDONLY | O_NOATIME | O_NOFOLLOW);
    if (in < 0) die("cannot open", files[*i]);
    return in;
}

static void *copier(void *unused) {
    (void)unused;
    static __thread unsigned char buf[1 << 20];
    size_t i;
    int in;
    while ((in = take(&i)) >= 0) {
        struct stat st;
        fstat(in, &st);
        const char *rel = files[i] + rootlen + 1;
        char temp[4096];
        const char *slash = strrchr(rel, '/');
        int dirlen = slash ? (int)(slash - rel + 1) : 0;
        snprintf(temp, sizeof temp, "%.*s.t%zu", dirlen, rel, atomic_fetch_add(&next_temp, 1));
        int out = openat(dstfd, temp, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (out < 0) die("cannot create", temp);
        ssize_t n;
        while ((n = read(in, buf, sizeof buf)) > 0)
            if (write(out, buf, (size_t)n) != n) die("cannot write", temp);
        if (n < 0) die("cannot read", files[i]);
        fchmod(out, st.st_mode & 07777);
        struct timespec times[2] = {{0, UTIME_OMIT}, st.st_mtim};
        futimens(out, times);
        close(in);
        close(out);
        if (renameat(dstfd, temp, dstfd, rel) != 0) die("cannot rename", rel);
    }
    return NULL;
}

static void *worker(void *unused) {
    (void)unused;
    static __thread unsigned char buf[1 << 20];
    size_t i;
    int in;
    while ((in = take(&i)) >= 0) {
        const char *temp = "(new object)";
        int out = openat(tmpfd, ".", O_TMPFILE | O_WRONLY, 0444);
        if (out < 0) die("cannot create", temp);
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        EVP_DigestInit_ex(c, EVP_sha256(), NULL);
        ssize_t n;
        while ((n = read(in, buf, sizeof buf)) > 0) {
            EVP_DigestUpdate(c, buf, (size_t)n);
            if (write(out, buf, (size_t)n) != n) die("cannot write", temp);
        }
        if (n < 0) die("cannot read", files[i]);
        close(in);
        unsigned char md[32];
        EVP_DigestFinal_ex(c, md, NULL);
        EVP_MD_CTX_free(c);
        char name[3 + 65];
        snprintf(name, 4, "%02x/", md[0]);
        for (int k = 0; k < 32; k++) snprintf(name + 3 + 2 * k, 3, "%02x", md[k]);
        char proc[32];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", out);
        if (linkat(AT_FDCWD, proc, objfd, name, AT_SYMLINK_FOLLOW) != 0 && errno != EEXIST) die("cannot link", name);
        close(out);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5 || (strcmp(argv[1], "store") && strcmp(argv[1], "copy"))) {
        fprintf(stderr, "usage: floor store TREE REPO THREADS | floor copy SRC DST THREADS\n");
        return 2;
    }
    int copy = !strcmp(argv[1], "copy");
    argv++;
    int threads = atoi(argv[3]);
    if (threads < 1 || threads > 64) threads = 4;
    pthread_t t[64];
    if (mkdir(argv[2], 0700) != 0) die("cannot make", argv[2]);
    int repo = open(argv[2], O_RDONLY | O_DIRECTORY);
    rootlen = strlen(argv[1]);
    if (copy) {
        dstfd = repo;
        walk(argv[1]);
        for (size_t k = 0; k < ndirs; k++) mkdirat(dstfd, dirs[k] + rootlen + 1, 0755);
        for (int k = 0; k < threads; k++) pthread_create(&t[k], NULL, copier, NULL);
        for (int k = 0; k < threads; k++) pthread_join(t[k], NULL);
        if (syncfs(repo) != 0) die("cannot sync", argv[2]);
        printf("%zu files\n", nfiles);
        return 0;
    }
    mkdirat(repo, "tmp", 0700);
    mkdirat(repo, "objects", 0700);
    tmpfd = openat(repo, "tmp", O_RDONLY | O_DIRECTORY);
    objfd = openat(repo, "objects", O_RDONLY | O_DIRECTORY);
    for (int k = 0; k < 256; k++) {
        char fan[3];
        snprintf(fan, sizeof fan, "%02x", k);
        mkdirat(objfd, fan, 0700);
    }
    walk(argv[1]);
    for (int k = 0; k < threads; k++) pthread_create(&t[k], NULL, worker, NULL);
    for (int k = 0; k < threads; k++) pthread_join(t[k], NULL);
    if (syncfs(repo) != 0) die("cannot sync", argv[2]);
    printf("%zu files\n", nfiles);
    return 0;
}
