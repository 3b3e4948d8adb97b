/* table.h - server-side printing: meta.k8s.io/v1 Table responses for
 * `kubectl get`, with a CRD's additionalPrinterColumns (State, Error, Age for
 * meshcert's kinds) and the usual columns of the built-in kinds.
 */
#ifndef MC_SERVER_TABLE_H
#define MC_SERVER_TABLE_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "server/registry.h"

/* 1 when an Accept header asks for a Table (application/json;as=Table;
 * g=meta.k8s.io;v=v1 among its alternatives), else 0. */
int mc_server_table_wanted(const char *accept);

/* Builds a Table (new reference) for objs of resource r: columnDefinitions,
 * one row per object with cells evaluated from the printer columns' JSONPath
 * (simple dotted paths and [n] indexes) and `object` per include_object
 * ("None", "Metadata" (default; a PartialObjectMetadata) or "Object");
 * metadata.resourceVersion and continue as given (may be NULL). now is used
 * for ages. NULL on allocation failure. */
json_t *mc_server_table_build(const mc_server_resource *r, const json_t *const *objs, size_t n,
                              const char *resource_version, const char *continue_token,
                              const char *include_object, time_t now);

/* One row (new reference) of a Table of resource r for obj, as
 * mc_server_table_build makes them: a Table LIST is streamed one row at a
 * time from it. NULL on allocation failure. */
json_t *mc_server_table_row(const mc_server_resource *r, const json_t *obj,
                            const char *include_object, time_t now);

#endif
