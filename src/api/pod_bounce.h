/* pod_bounce.h - PodBounceDirective (certificates.smh.solo.io/v1alpha2).
 *
 * spec.podsToBounce lists pod selectors ({namespace, labels}) whose pods must
 * restart after a new certificate is written, so that they load it. The status
 * records every pod the agent deleted, per issuance, so that an agent that
 * restarts mid-way never bounces the same pod twice for one issuance (a bug
 * users reported against the original implementation). See docs/api.md.
 */
#ifndef MC_API_POD_BOUNCE_H
#define MC_API_POD_BOUNCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/issued_certificate.h"
#include "api/maps.h"
#include "api/meta.h"
#include "util/err.h"

/* One spec.podsToBounce entry: the pods of namespace whose labels contain all
 * of labels (an empty map selects every pod of the namespace). */
typedef struct mc_api_pod_selector {
    char *namespace;       /* owned */
    mc_api_str_map labels; /* owned */
    json_t *raw;           /* the decoded entry (reference) or NULL */
} mc_api_pod_selector;

/* One status.bouncedPods entry. issuance is opaque to api/: the agent builds
 * it so that it changes whenever a new certificate is written (docs/api.md). */
typedef struct mc_api_bounced_pod {
    char *issuance;  /* owned */
    char *namespace; /* owned */
    char *name;      /* owned */
    char *uid;       /* owned; the pod's metadata.uid (a recreated pod differs) */
    json_t *raw;     /* the decoded entry (reference) or NULL */
} mc_api_bounced_pod;

typedef struct mc_api_pod_bounce_directive {
    json_t *raw; /* the decoded document (a reference) or NULL; see codec.h */
    mc_api_object_meta metadata;
    struct {
        mc_api_pod_selector *pods_to_bounce; /* owned array */
        size_t pods_to_bounce_len;
    } spec;
    struct {
        int64_t observed_generation;
        mc_api_bounced_pod *bounced_pods; /* owned array, in the order bounced */
        size_t bounced_pods_len;
    } status;
} mc_api_pod_bounce_directive;

/* Allocates an empty PodBounceDirective named namespace/name. NULL on
 * allocation failure. */
mc_api_pod_bounce_directive *mc_api_pod_bounce_directive_new(const char *namespace,
                                                             const char *name);

/* Decodes json (a new reference is kept as raw) into *out (caller frees).
 * MC_EINVAL naming the object and field on wrongly typed fields. */
int mc_api_pod_bounce_directive_decode(json_t *json, mc_api_pod_bounce_directive **out,
                                       mc_err *err);

/* Encodes into a new JSON object (*out, caller decrefs). MC_ENOMEM. */
int mc_api_pod_bounce_directive_encode(const mc_api_pod_bounce_directive *pbd, json_t **out,
                                       mc_err *err);

/* Frees pbd and everything it owns. Accepts NULL. */
void mc_api_pod_bounce_directive_free(mc_api_pod_bounce_directive *pbd);

/* Appends a selector (copies namespace and labels). MC_ENOMEM. */
int mc_api_pod_bounce_directive_add_selector(mc_api_pod_bounce_directive *pbd,
                                             const char *namespace, const mc_api_str_map *labels);

/* True when the pod with this uid was already bounced for issuance. */
bool mc_api_pod_bounce_directive_was_bounced(const mc_api_pod_bounce_directive *pbd,
                                             const char *issuance, const char *pod_uid);

/* True when any pod is recorded for issuance (its bounce plan exists). */
bool mc_api_pod_bounce_directive_has_issuance(const mc_api_pod_bounce_directive *pbd,
                                              const char *issuance);

/* Records that pod namespace/name (uid) was bounced for issuance; a no-op
 * when already recorded. MC_ENOMEM. */
int mc_api_pod_bounce_directive_record(mc_api_pod_bounce_directive *pbd, const char *issuance,
                                       const char *namespace, const char *name,
                                       const char *pod_uid);

/* Drops the records of every issuance other than keep (bounded status: only
 * the current issuance matters once a new one starts). Returns how many
 * records were dropped. */
size_t mc_api_pod_bounce_directive_forget_others(mc_api_pod_bounce_directive *pbd,
                                                 const char *keep);

/* True when a pod in namespace with labels is selected by entry. */
bool mc_api_pod_selector_matches(const mc_api_pod_selector *entry, const char *namespace,
                                 const mc_api_str_map *labels);

/* Validates metadata, every selector (namespace a DNS-1123 label, labels
 * valid) and every record (issuance non-empty, namespace a label, name a
 * subdomain, uid non-empty). MC_EINVAL "podbouncedirective <ns>/<name>:
 * spec.podsToBounce[1].namespace: ...". */
int mc_api_pod_bounce_directive_validate(const mc_api_pod_bounce_directive *pbd, mc_err *err);

#endif
