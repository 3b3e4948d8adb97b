/* strategic.h - Kubernetes' strategic merge patch, as the API server applies
 * it to built-in kinds (application/strategic-merge-patch+json).
 *
 * kubectl apply (client side) and kubectl patch send built-ins this patch: a
 * JSON merge patch (RFC 7386) in which a list with a merge key (containers
 * and env by name, ports by containerPort, ...) merges item by item instead
 * of being replaced, with the directives $patch (replace, delete, merge),
 * $setElementOrder/<list>, $retainKeys and $deleteFromPrimitiveList/<list>.
 */
#ifndef MC_API_STRATEGIC_H
#define MC_API_STRATEGIC_H

#include <jansson.h>

#include "util/err.h"

/* Applies the strategic merge patch (an object) to *doc, replacing *doc with
 * the result (a new reference; the old one is released); patch is not
 * modified. Merge keys are those of k8s.io/api for the fields the server's
 * built-ins hold, found by field name; other lists are replaced whole, as
 * kube replaces atomic lists. MC_EINVAL names an unknown $patch value or a
 * directive of the wrong type; MC_ENOMEM. On error *doc is unchanged. */
int mc_json_strategic_merge_patch(json_t **doc, const json_t *patch, mc_err *err);

#endif
