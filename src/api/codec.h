/* codec.h - the building blocks of the api/ JSON codec.
 *
 * How unknown fields survive: every typed struct keeps the document it was
 * decoded from (`raw`, a jansson reference). Encoding starts from a deep copy
 * of raw and overwrites only the fields meshcert models, so fields written by
 * another tool or a newer meshcert come back unchanged. Modelled fields follow
 * Go's `omitempty`: an empty value (NULL, "", 0, false, empty map or list)
 * removes the key, unless the original already held an empty value, which is
 * then kept as it was (so `"labels": {}` or `"eventTime": null` round-trip).
 * Getters treat JSON null like an absent key.
 */
#ifndef MC_API_CODEC_H
#define MC_API_CODEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/maps.h"
#include "util/err.h"

/* Largest document mc_api_json_parse accepts (the API server's request limit). */
#define MC_API_JSON_MAX (3u * 1024 * 1024)

/* Names the object in error messages: "issuedcertificate istio-system/mesh-1". */
typedef struct mc_codec_ctx {
    char what[320];
} mc_codec_ctx;

/* Parses len bytes of JSON text (any JSON value; duplicate object keys are
 * rejected) into *out (new reference, caller decrefs). MC_ELIMIT over
 * MC_API_JSON_MAX, MC_EINVAL with line and column when malformed. */
int mc_api_json_parse(const char *text, size_t len, json_t **out, mc_err *err);

/* Returns the compact JSON text of json (caller frees), or NULL on failure. */
char *mc_api_json_dump(const json_t *json);

/* Fills ctx from a kind name (lower case) and the metadata of obj (which may
 * be NULL or malformed: the context is best effort). */
void mc_codec_ctx_init(mc_codec_ctx *ctx, const char *kind, const json_t *obj);

/* True for null, "", 0, false, {} and []: what omitempty leaves out. */
bool mc_codec_is_empty(const json_t *value);

/* Getters read obj[key]; path (e.g. "spec.org") names the field in errors.
 * Absent or null leaves the output untouched and returns 0; a value of the
 * wrong type is MC_EINVAL "<what>: <path>: expected ...". Outputs that are
 * allocated belong to the caller. */
int mc_codec_get_string(const json_t *obj, const char *key, char **out, const mc_codec_ctx *ctx,
                        const char *path, mc_err *err);
/* An RFC 3339 string, checked with mc_time_parse. */
int mc_codec_get_time(const json_t *obj, const char *key, char **out, const mc_codec_ctx *ctx,
                      const char *path, mc_err *err);
/* An integer; protojson's quoted form ("42") is accepted too. */
int mc_codec_get_int64(const json_t *obj, const char *key, int64_t *out,
                       const mc_codec_ctx *ctx, const char *path, mc_err *err);
int mc_codec_get_bool(const json_t *obj, const char *key, bool *out, const mc_codec_ctx *ctx,
                      const char *path, mc_err *err);
/* Strict standard base64 (protobuf `bytes`); *out NUL-terminated, caller frees. */
int mc_codec_get_bytes(const json_t *obj, const char *key, unsigned char **out, size_t *out_len,
                       const mc_codec_ctx *ctx, const char *path, mc_err *err);
/* *out is borrowed from obj, NULL when absent or null. */
int mc_codec_get_object(const json_t *obj, const char *key, const json_t **out,
                        const mc_codec_ctx *ctx, const char *path, mc_err *err);
int mc_codec_get_array(const json_t *obj, const char *key, const json_t **out,
                       const mc_codec_ctx *ctx, const char *path, mc_err *err);
/* A JSON object of strings into map (which must be empty). */
int mc_codec_get_str_map(const json_t *obj, const char *key, mc_api_str_map *map,
                         const mc_codec_ctx *ctx, const char *path, mc_err *err);
/* A JSON object of base64 strings into map (which must be empty). */
int mc_codec_get_bytes_map(const json_t *obj, const char *key, mc_api_bytes_map *map,
                           const mc_codec_ctx *ctx, const char *path, mc_err *err);
/* A JSON array of strings into a new array of *n strings (caller frees with
 * mc_codec_str_array_free). */
int mc_codec_get_str_array(const json_t *obj, const char *key, char ***out, size_t *n,
                           const mc_codec_ctx *ctx, const char *path, mc_err *err);
void mc_codec_str_array_free(char **items, size_t n);
/* Copies n strings into a new array (caller frees). MC_ENOMEM. */
int mc_codec_str_array_copy(char *const *items, size_t n, char ***out);

/* Stores value (stolen; NULL means absent) under key with the omitempty rule
 * described above. MC_ENOMEM. */
int mc_codec_put(json_t *obj, const char *key, json_t *value);
int mc_codec_put_string(json_t *obj, const char *key, const char *value);
/* Keeps an original quoted integer ("42") when its value is unchanged. */
int mc_codec_put_int64(json_t *obj, const char *key, int64_t value);
int mc_codec_put_bool(json_t *obj, const char *key, bool value);
int mc_codec_put_bytes(json_t *obj, const char *key, const unsigned char *data, size_t len);
int mc_codec_put_str_map(json_t *obj, const char *key, const mc_api_str_map *map);
int mc_codec_put_bytes_map(json_t *obj, const char *key, const mc_api_bytes_map *map);
int mc_codec_put_str_array(json_t *obj, const char *key, char *const *items, size_t n);

/* Returns the object at obj[key] (borrowed) for in-place editing, creating an
 * empty one when absent or not an object; *saved receives the original value
 * when it was an empty one (null, {}), else NULL. Finish with
 * mc_codec_child_done, which drops the child again if it ended up empty,
 * unless the original was empty too (then the original is put back).
 * NULL on allocation failure (and *saved is NULL). */
json_t *mc_codec_child(json_t *obj, const char *key, json_t **saved);
int mc_codec_child_done(json_t *obj, const char *key, json_t *saved);

/* Starts an encoding: a deep copy of raw, or a new empty object when raw is
 * NULL. NULL on allocation failure. */
json_t *mc_codec_begin(const json_t *raw);

/* Writes apiVersion and kind when the object is new (raw NULL) or already
 * carried them: list items from the API server omit them and must stay so. */
int mc_codec_put_type_meta(json_t *obj, const json_t *raw, const char *api_version,
                           const char *kind);

/* Checks that apiVersion and kind, when present, are the expected ones. */
int mc_codec_check_type_meta(const json_t *obj, const char *api_version, const char *kind,
                             const mc_codec_ctx *ctx, mc_err *err);

#endif
