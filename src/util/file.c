/* file.c - bounded reads and atomic, all-or-nothing writes (see file.h). */
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/str.h"

int mc_file_read(const char *path, size_t max, char **out, size_t *out_len, mc_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mc_err_set(err, errno == ENOENT ? MC_ENOTFOUND : MC_EIO, "%s: %s", path,
                          strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return mc_err_set(err, MC_EINVAL, "%s: is a directory, expected a file", path);
    }
    mc_buf b;
    mc_buf_init(&b, max);
    char chunk[8192];
    int rc = MC_OK;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = mc_err_set(err, MC_EIO, "%s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        rc = mc_buf_append(&b, chunk, (size_t)n);
        if (rc == MC_ELIMIT) {
            rc = mc_err_set(err, MC_ELIMIT, "%s: larger than the %zu-byte limit", path, max);
            break;
        }
        if (rc) {
            rc = mc_err_set(err, rc, "%s: out of memory", path);
            break;
        }
    }
    close(fd);
    mc_secure_zero(chunk, sizeof(chunk));
    if (rc) {
        mc_buf_free_secure(&b);
        return rc;
    }
    *out = mc_buf_steal(&b, out_len);
    return *out ? MC_OK : mc_err_set(err, MC_ENOMEM, "%s: out of memory", path);
}

int mc_file_mkdir_p(const char *dir, mode_t mode, mc_err *err)
{
    char *path = mc_strdup(dir);
    if (!path)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    int rc = MC_OK;
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, mode) != 0 && errno != EEXIST) {
            rc = mc_err_set(err, MC_EIO, "cannot create directory %s: %s", path, strerror(errno));
            break;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    if (rc == MC_OK) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            rc = mc_err_set(err, MC_EIO, "%s: exists and is not a directory", dir);
    }
    free(path);
    return rc;
}

/* Writes data to a new temporary file next to final_path; *tmp_out receives its
 * path (caller frees). The file is fsync'ed before returning. */
static int write_temp(const char *final_path, const void *data, size_t len, mode_t mode,
                      char **tmp_out, mc_err *err)
{
    mc_buf name;
    mc_buf_init(&name, 8192);
    if (mc_buf_appendf(&name, "%s.tmp.XXXXXX", final_path))
        return mc_err_set(err, MC_ELIMIT, "%s: path too long", final_path);
    int fd = mkstemp(name.data);
    if (fd < 0) {
        int rc = mc_err_set(err, MC_EIO, "%s: cannot create temporary file: %s", final_path,
                            strerror(errno));
        mc_buf_free(&name);
        return rc;
    }
    int rc = MC_OK;
    if (fchmod(fd, mode) != 0)
        rc = mc_err_set(err, MC_EIO, "%s: chmod: %s", final_path, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (rc == MC_OK && left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = mc_err_set(err, MC_EIO, "%s: write: %s", final_path, strerror(errno));
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (rc == MC_OK && fsync(fd) != 0)
        rc = mc_err_set(err, MC_EIO, "%s: fsync: %s", final_path, strerror(errno));
    if (close(fd) != 0 && rc == MC_OK)
        rc = mc_err_set(err, MC_EIO, "%s: close: %s", final_path, strerror(errno));
    if (rc) {
        unlink(name.data);
        mc_buf_free(&name);
        return rc;
    }
    *tmp_out = mc_buf_steal(&name, NULL);
    return MC_OK;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int mc_file_write_all(const char *dir, const mc_file_entry *entries, size_t n, mc_err *err)
{
    int rc = dir ? mc_file_mkdir_p(dir, 0755, err) : MC_OK;
    if (rc)
        return rc;
    char **finals = calloc(n ? n : 1, sizeof(char *));
    char **temps = calloc(n ? n : 1, sizeof(char *));
    if (!finals || !temps) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n && rc == MC_OK; i++) {
        mc_buf path;
        mc_buf_init(&path, 8192);
        if (dir ? mc_buf_appendf(&path, "%s/%s", dir, entries[i].name)
                : mc_buf_append_str(&path, entries[i].name)) {
            rc = mc_err_set(err, MC_ELIMIT, "%s: path too long", entries[i].name);
            mc_buf_free(&path);
            break;
        }
        finals[i] = mc_buf_steal(&path, NULL);
        rc =
            write_temp(finals[i], entries[i].data, entries[i].len, entries[i].mode, &temps[i], err);
    }
    /* Every temporary file is complete: now replace the outputs. */
    for (size_t i = 0; i < n && rc == MC_OK; i++) {
        if (rename(temps[i], finals[i]) != 0)
            rc = mc_err_set(err, MC_EIO, "%s: rename: %s", finals[i], strerror(errno));
        else {
            free(temps[i]);
            temps[i] = NULL;
        }
    }
    for (size_t i = 0; i < n && rc == MC_OK; i++) {
        char *copy = mc_strdup(finals[i]);
        if (copy)
            fsync_dir(dirname(copy));
        free(copy);
    }
out:
    for (size_t i = 0; finals && temps && i < n; i++) {
        if (temps[i])
            unlink(temps[i]);
        free(temps[i]);
        free(finals[i]);
    }
    free(finals);
    free(temps);
    return rc;
}

int mc_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, mc_err *err)
{
    char *copy = mc_strdup(path);
    if (!copy)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    char *tmp = NULL;
    int rc = write_temp(path, data, len, mode, &tmp, err);
    if (rc == MC_OK) {
        if (rename(tmp, path) != 0) {
            rc = mc_err_set(err, MC_EIO, "%s: rename: %s", path, strerror(errno));
            unlink(tmp);
        } else {
            fsync_dir(dirname(copy));
        }
    }
    free(tmp);
    free(copy);
    return rc;
}
