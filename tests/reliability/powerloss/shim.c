/* A power cut, simulated: an LD_PRELOAD shim that records, before every write to a file under
 * $POWERLOSS_DIR, the bytes it overwrites (an undo log in $POWERLOSS_LOG), and marks the file durable
 * at each fsync/fdatasync of it. After the process is killed, powerloss.py undoes every write made
 * since the file's last sync: the files are left exactly as a disk that honours fsync, and nothing
 * more, would hold after the power came back. Test-only (tests/reliability/test_power_loss.py). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;
static const char *dir = NULL;
static size_t dir_len = 0;

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_unlink)(const char *);
static int (*real_ftruncate)(int, off_t);

struct record { char type; uint32_t path_len; int64_t offset; int64_t size_before; uint32_t data_len; } __attribute__((packed));

static void init(void) {
    if (real_write) return;
    real_write = dlsym(RTLD_NEXT, "write");
    real_pwrite = dlsym(RTLD_NEXT, "pwrite");
    real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_unlink = dlsym(RTLD_NEXT, "unlink");
    real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
    dir = getenv("POWERLOSS_DIR");
    dir_len = dir ? strlen(dir) : 0;
    const char *path = getenv("POWERLOSS_LOG");
    if (path) log_fd = (int)syscall(SYS_open, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

static int tracked_path(const char *path) {
    return dir && log_fd >= 0 && strncmp(path, dir, dir_len) == 0 && path[dir_len] == '/';
}

static int path_of(int fd, char *out, size_t size) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, size - 1);
    if (n <= 0) return 0;
    out[n] = 0;
    return tracked_path(out);
}

static void put(const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t n = syscall(SYS_write, log_fd, p, len);
        if (n <= 0) abort();  /* an undo log we cannot write makes the simulation a lie */
        p += n;
        len -= (size_t)n;
    }
}

static void emit(char type, const char *path, int64_t offset, int64_t size_before, const void *data, uint32_t len) {
    struct record r = {type, (uint32_t)strlen(path), offset, size_before, len};
    put(&r, sizeof r);
    put(path, r.path_len);
    if (len) put(data, len);
}

/* Before a write of len bytes at offset: keep what it overwrites (and the size the file had). */
static void before_write(int fd, off_t offset, size_t len) {
    char path[4096];
    if (!path_of(fd, path, sizeof path)) return;
    struct stat st;
    if (fstat(fd, &st) != 0) return;
    int64_t old = offset < st.st_size ? (int64_t)(st.st_size - offset) : 0;
    if ((size_t)old > len) old = (int64_t)len;
    char *buf = old ? malloc((size_t)old) : NULL;
    if (old && pread(fd, buf, (size_t)old, offset) != old) abort();
    emit('W', path, offset, st.st_size, buf, (uint32_t)old);
    free(buf);
}

ssize_t pwrite(int fd, const void *b, size_t n, off_t off) {
    init(); pthread_mutex_lock(&mu); before_write(fd, off, n);
    ssize_t r = real_pwrite(fd, b, n, off); pthread_mutex_unlock(&mu); return r;
}
ssize_t pwrite64(int fd, const void *b, size_t n, off_t off) {
    init(); pthread_mutex_lock(&mu); before_write(fd, off, n);
    ssize_t r = real_pwrite64(fd, b, n, off); pthread_mutex_unlock(&mu); return r;
}
ssize_t write(int fd, const void *b, size_t n) {
    init();
    if (fd == log_fd) return real_write(fd, b, n);
    pthread_mutex_lock(&mu);
    off_t at = lseek(fd, 0, SEEK_CUR);
    if (at >= 0) {
        int flags = fcntl(fd, F_GETFL);
        if (flags >= 0 && (flags & O_APPEND)) { struct stat st; if (fstat(fd, &st) == 0) at = st.st_size; }
        before_write(fd, at, n);
    }
    ssize_t r = real_write(fd, b, n); pthread_mutex_unlock(&mu); return r;
}
static void synced(int fd) {
    char path[4096];
    if (path_of(fd, path, sizeof path)) emit('S', path, 0, 0, NULL, 0);
}
int fsync(int fd) { init(); pthread_mutex_lock(&mu); int r = real_fsync(fd); if (r == 0) synced(fd); pthread_mutex_unlock(&mu); return r; }
int fdatasync(int fd) { init(); pthread_mutex_lock(&mu); int r = real_fdatasync(fd); if (r == 0) synced(fd); pthread_mutex_unlock(&mu); return r; }
int unlink(const char *path) {
    init(); pthread_mutex_lock(&mu);
    char full[4096];
    if (path[0] == '/') snprintf(full, sizeof full, "%s", path);
    else { char cwd[2048]; if (!getcwd(cwd, sizeof cwd)) cwd[0] = 0; snprintf(full, sizeof full, "%s/%s", cwd, path); }
    if (tracked_path(full)) emit('U', full, 0, 0, NULL, 0);
    int r = real_unlink(path); pthread_mutex_unlock(&mu); return r;
}
int ftruncate(int fd, off_t length) {
    init(); pthread_mutex_lock(&mu);
    char path[4096]; struct stat st;
    if (path_of(fd, path, sizeof path) && fstat(fd, &st) == 0 && length < st.st_size) {
        size_t cut = (size_t)(st.st_size - length);
        char *buf = malloc(cut);
        if (pread(fd, buf, cut, length) != (ssize_t)cut) abort();
        emit('W', path, length, st.st_size, buf, (uint32_t)cut);
        free(buf);
    }
    int r = real_ftruncate(fd, length); pthread_mutex_unlock(&mu); return r;
}
