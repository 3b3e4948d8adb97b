/* internal.h - what issuer.c shares with the rest of issuer/ (the rotation
 * controller): the registered clusters, their caches and clients, and
 * whether this replica leads. Not part of the issuer's public API.
 */
#ifndef MC_ISSUER_INTERNAL_H
#define MC_ISSUER_INTERNAL_H

#include <stddef.h>

#include "issuer/issuer.h"
#include "kube/client.h"
#include "runtime/informer.h"

typedef struct issuer_cluster issuer_cluster;

/* Every registered cluster, each with a reference taken, into *out (caller
 * releases with mc_issuer_clusters_release). Returns the count. */
size_t mc_issuer_clusters_acquire(mc_issuer *issuer, issuer_cluster ***out);
void mc_issuer_clusters_release(issuer_cluster **clusters, size_t count);

/* A cluster's name, IssuedCertificate and CertificateRequest caches and
 * client; valid while a reference is held. */
const char *mc_issuer_cluster_name(const issuer_cluster *cluster);
mc_informer *mc_issuer_cluster_issued(const issuer_cluster *cluster);
mc_informer *mc_issuer_cluster_requests(const issuer_cluster *cluster);
mc_kube_client *mc_issuer_cluster_client(const issuer_cluster *cluster);

/* Whether this replica holds the Lease (only the leader writes). */
int mc_issuer_is_leading(mc_issuer *issuer);

/* 1 when root Secret root_key ("ns/name") is backed by the key given at
 * start with --root-cert (options.root_signer), whose Secret is not read:
 * such a root cannot be rotated (the rotation swaps Secret contents). */
int mc_issuer_root_is_external(const mc_issuer *issuer, const char *root_key);

/* The key a root Secret's key-ref names (options.root_keys, matched
 * exactly), or NULL when the issuer was not given it. */
const mc_issuer_root_key *mc_issuer_root_key_find(const mc_issuer *issuer, const char *ref);

/* The issuer's namespace (registrations, roots, RootRotations). */
const char *mc_issuer_namespace(const mc_issuer *issuer);

#endif
