#define _POSIX_C_SOURCE 200809L
#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens path for reading only when it is a regular file: a FIFO would block open() (and then every read)
 * until some writer came, and a directory or device is never a model, tokenizer or profile. O_NONBLOCK makes
 * the open itself return at once; it is cleared again, since it means nothing for a regular file. Returns the
 * descriptor (st filled) or -1 after setting err. */
static int open_regular(const char *path, struct stat *st, gc_error *err) {
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0) {
        gc_fail(err, GC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        const char *kind = S_ISDIR(st->st_mode) ? "a directory" : S_ISFIFO(st->st_mode) ? "a FIFO" : "a device or socket";
        close(fd);
        gc_fail(err, GC_ERR_IO, "%s: not a regular file (%s)", path, kind);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

bool gc_file_starts_with(const char *path, const void *magic, size_t n) {
    struct stat st;
    int fd = open_regular(path, &st, NULL);
    if (fd < 0)
        return false;
    unsigned char head[16];
    bool yes = n <= sizeof head && read(fd, head, n) == (ssize_t)n && memcmp(head, magic, n) == 0;
    close(fd);
    return yes;
}

gc_status gc_file_read(const char *path, char **data, size_t *len, gc_error *err) {
    *data = NULL;
    *len = 0;
    struct stat st;
    int fd = open_regular(path, &st, err);
    if (fd < 0)
        return err ? err->status : GC_ERR_IO;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return gc_fail(err, GC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        char *bigger = realloc(buf, cap * 2 + 1);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int read_error = ferror(f);
    fclose(f);
    if (!buf)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory while reading", path);
    if (read_error) {
        free(buf);
        return gc_fail(err, GC_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return GC_OK;
}

gc_status gc_file_write_atomic(const char *path, const void *data, size_t len, gc_error *err) {
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        gc_status st = gc_fail(err, GC_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    const unsigned char *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    int close_rc = close(fd);
    if (done != len || close_rc != 0 || rename(tmp, path) != 0) {
        gc_status st = gc_fail(err, GC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return GC_OK;
}

gc_status gc_mkdir_p(const char *path, gc_error *err) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return gc_fail(err, GC_ERR_INVALID_ARG, "path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return gc_fail(err, GC_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return gc_fail(err, GC_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
    return GC_OK;
}

gc_status gc_file_map(const char *path, gc_mapped_file *out, gc_error *err) {
    out->data = NULL;
    out->size = 0;
    struct stat st;
    int fd = open_regular(path, &st, err);
    if (fd < 0)
        return err ? err->status : GC_ERR_IO;
    out->size = (size_t)st.st_size;
    if (out->size > 0) {
        void *p = mmap(NULL, out->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            out->size = 0;
            return gc_fail(err, GC_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        }
        out->data = p;
    }
    close(fd);
    return GC_OK;
}

void gc_file_unmap(gc_mapped_file *f) {
    if (f && f->data)
        munmap((void *)f->data, f->size);
    if (f) {
        f->data = NULL;
        f->size = 0;
    }
}
