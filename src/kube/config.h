/* config.h - how to reach a Kubernetes API server: kubeconfig files (and
 * kubeconfig text held in Secrets, as the issuer's registered clusters are),
 * or the in-cluster service account.
 *
 * kubeconfig: clusters, users, contexts, current-context or an explicit
 * context; certificate-authority(-data), client-certificate(-data),
 * client-key(-data), token, tokenFile, insecure-skip-tls-verify (warned
 * about), and exec credential plugins (client.authentication.k8s.io/v1
 * ExecCredential), what EKS, GKE and AKS kubeconfigs use. Paths in a file are
 * relative to the file. Key material stays in memory (never written out).
 */
#ifndef MC_KUBE_CONFIG_H
#define MC_KUBE_CONFIG_H

#include <stddef.h>

#include "util/err.h"

typedef struct mc_kube_exec {
    char *api_version;  /* e.g. client.authentication.k8s.io/v1 */
    char *command;      /* run with execve, no shell */
    char **args;        /* owned */
    size_t args_len;
    char **env;         /* owned "NAME=value" strings, added to the child's environment */
    size_t env_len;
} mc_kube_exec;

typedef struct mc_kube_config {
    char *server;            /* "https://host:port[/path prefix]" */
    char *ca_pem;            /* CA bundle PEM, or NULL for the system CAs */
    char *client_cert_pem;   /* or NULL */
    char *client_key_pem;    /* or NULL; wiped on free */
    char *token;             /* static bearer token, or NULL; wiped on free */
    char *token_file;        /* file to (re-)read the bearer token from, or NULL */
    int insecure_skip_tls_verify; /* 1 only when the kubeconfig says so */
    mc_kube_exec *exec;      /* credential plugin, or NULL */
    char *namespace;         /* context namespace (in-cluster: the pod's); "default" */
    int namespace_given;     /* 1 when the context (or the pod) names the namespace */
    char *context;           /* name of the context used ("in-cluster" for in-cluster) */
    char *ca_origin;         /* where ca_pem comes from, for messages ("certificate-authority-data
                                of cluster \"c1\" in kubeconfig F"), or NULL */
} mc_kube_config;

/* Loads a kubeconfig file with the named context (NULL: current-context).
 * MC_ENOTFOUND naming the file or context; MC_EINVAL naming the field. */
int mc_kube_config_load_file(const char *path, const char *context, mc_kube_config **out,
                             mc_err *err);

/* Loads the kubeconfig kubectl would use. path (--kubeconfig) when given:
 * that file alone. Else the files listed in $KUBECONFIG (':'-separated;
 * missing ones skipped, repeats ignored), merged by client-go's rules: the
 * first file to define a cluster, user or context name wins (the whole
 * entry), current-context comes from the first file that sets it, and
 * relative paths resolve against the file that defined the entry. Else
 * $HOME/.kube/config. context NULL: current-context. MC_ENOTFOUND when no
 * file exists (the message says where it looked), else as load_file. */
int mc_kube_config_load_default(const char *path, const char *context, mc_kube_config **out,
                                mc_err *err);

/* The same from kubeconfig text (e.g. a Secret's value); relative paths are
 * refused. what names the source in errors. */
int mc_kube_config_load_text(const char *text, size_t len, const char *context, const char *what,
                             mc_kube_config **out, mc_err *err);

/* In-cluster configuration: KUBERNETES_SERVICE_HOST/PORT and the service
 * account mount (mount_dir NULL: /var/run/secrets/kubernetes.io/serviceaccount):
 * token (as token_file, re-read when it changes), ca.crt, namespace. */
int mc_kube_config_in_cluster(const char *mount_dir, mc_kube_config **out, mc_err *err);

/* A deep copy of config (*out, free with mc_kube_config_free). MC_ENOMEM. */
int mc_kube_config_copy(const mc_kube_config *config, mc_kube_config **out, mc_err *err);

/* The kubeconfig (JSON, which is YAML) of a ServiceAccount identity: admin's
 * server, CA and TLS setting, user with bearer token, namespace ns, one
 * context "managed". A new string (caller frees, wiping it: it holds the
 * token); NULL when out of memory. The token's copies inside are wiped. */
char *mc_kube_config_token_kubeconfig(const mc_kube_config *admin, const char *user,
                                      const char *token, const char *ns);

/* Frees a configuration, wiping secrets. Accepts NULL. */
void mc_kube_config_free(mc_kube_config *config);

#endif
