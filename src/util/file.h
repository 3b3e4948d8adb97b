/* file.h - reading bounded files and writing outputs atomically.
 *
 * Outputs are written to a temporary file in the destination directory,
 * flushed to disk and renamed into place, so a crash or an error never leaves
 * a half-written file; a group of files is written all or nothing (every
 * temporary file exists before the first rename). Errors name the path.
 */
#ifndef MC_UTIL_FILE_H
#define MC_UTIL_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

/* Reads the whole file into a newly allocated, NUL-terminated buffer (caller
 * frees, or wipes with mc_secure_free for secrets). MC_ENOTFOUND when the file
 * does not exist, MC_ELIMIT when it is larger than max bytes, MC_EIO otherwise. */
int mc_file_read(const char *path, size_t max, char **out, size_t *out_len, mc_err *err);

typedef struct mc_file_entry {
    const char *name; /* file name inside dir, or a whole path when dir is NULL */
    const void *data; /* contents (not owned) */
    size_t len;       /* length of data */
    mode_t mode;      /* permission bits, e.g. 0600 for keys, 0644 otherwise */
} mc_file_entry;

/* Writes every entry into dir (created with mode 0755 if missing, parents
 * too; NULL when the names are whole paths whose directories exist), all or
 * nothing: on failure no entry has been replaced and no temporary file is
 * left behind. */
int mc_file_write_all(const char *dir, const mc_file_entry *entries, size_t n, mc_err *err);

/* Writes one file atomically (the directory part of path must exist). */
int mc_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, mc_err *err);

/* Creates dir and its missing parents with the given mode. */
int mc_file_mkdir_p(const char *dir, mode_t mode, mc_err *err);

#endif
