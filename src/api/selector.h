/* selector.h - Kubernetes label selectors: parse, match, format.
 *
 * The string syntax of `kubectl -l` and `?labelSelector=`: requirements
 * joined by commas (AND), each one of `key=value`, `key==value`,
 * `key!=value`, `key in (v1, v2)`, `key notin (v1)`, `key` (exists) and
 * `!key` (does not exist). Keys must be qualified names and values label
 * values, as the API server requires. Parse errors give the 0-based byte
 * offset of the offending character.
 */
#ifndef MC_API_SELECTOR_H
#define MC_API_SELECTOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/maps.h"
#include "util/err.h"

/* Longest selector text accepted. */
#define MC_SELECTOR_MAX 8192

typedef enum mc_selector_op {
    MC_SELECTOR_EQUALS,     /* key=value or key==value: present and equal */
    MC_SELECTOR_NOT_EQUALS, /* key!=value: absent or different */
    MC_SELECTOR_IN,         /* key in (...): present and one of values */
    MC_SELECTOR_NOT_IN,     /* key notin (...): absent or none of values */
    MC_SELECTOR_EXISTS,     /* key */
    MC_SELECTOR_NOT_EXISTS, /* !key */
} mc_selector_op;

typedef struct mc_selector_requirement {
    char *key;      /* owned */
    mc_selector_op op;
    char **values;  /* owned, sorted, without duplicates; 1 for =/!=, 0 for (!)exists */
    size_t values_len;
} mc_selector_requirement;

typedef struct mc_selector {
    mc_selector_requirement *reqs; /* owned, sorted by key (as Kubernetes does) */
    size_t len;                    /* 0: the selector matches everything */
} mc_selector;

/* Parses text into *out (caller frees with mc_selector_free). An empty or
 * all-blank text is the selector that matches everything. MC_EINVAL:
 * `label selector "<text>": offset N: <what was expected>` where N is the
 * 0-based byte offset of the bad character; MC_ELIMIT over MC_SELECTOR_MAX. */
int mc_selector_parse(const char *text, mc_selector **out, mc_err *err);

/* Builds the equality selector of a label map (the form of a
 * PodBounceDirective selector). MC_EINVAL when a key or value is invalid. */
int mc_selector_from_map(const mc_api_str_map *labels, mc_selector **out, mc_err *err);

/* True when labels satisfy every requirement. */
bool mc_selector_matches(const mc_selector *selector, const mc_api_str_map *labels);

/* Same, for a JSON object of strings (metadata.labels; NULL = no labels). */
bool mc_selector_matches_json(const mc_selector *selector, const json_t *labels);

/* The canonical text (requirements sorted by key, "=" for equality, values
 * sorted), e.g. "env in (prod,qa),tier!=frontend"; newly allocated, caller
 * frees; NULL on allocation failure. Parsing it gives an equal selector. */
char *mc_selector_format(const mc_selector *selector);

/* Frees selector. Accepts NULL. */
void mc_selector_free(mc_selector *selector);

#endif
