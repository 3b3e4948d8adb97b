/* rbac.c - kube's RBAC rule matching (see rbac.h), after
 * plugin/pkg/auth/authorizer/rbac: the ClusterRoleBindings first, then the
 * RoleBindings of the request's namespace; the first rule that allows ends
 * the search. A rule's lists are read either from a stored object (JSON) or
 * from the built-in default rules (C arrays), through one small list type,
 * so both are matched by the same code.
 */
#include "server/rbac.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mc_server_identity_in_group(const mc_server_identity *identity, const char *group)
{
    for (size_t i = 0; i < identity->groups_len; i++)
        if (strcmp(identity->groups[i], group) == 0)
            return 1;
    return 0;
}

/* A list of strings: a JSON array, or a NULL-terminated C array. */
typedef struct str_list {
    const json_t *json;
    const char *const *c;
} str_list;

static size_t list_len(str_list l)
{
    size_t n = 0;
    if (l.c)
        while (l.c[n])
            n++;
    return l.c ? n : json_array_size(l.json);
}

static const char *list_at(str_list l, size_t i)
{
    const char *s = l.c ? l.c[i] : json_string_value(json_array_get(l.json, i));
    return s ? s : "";
}

/* One PolicyRule. */
typedef struct rule {
    str_list verbs, api_groups, resources, resource_names, non_resource_urls;
} rule;

static rule rule_from_json(const json_t *r)
{
    rule out = {
        .verbs = {json_object_get(r, "verbs"), NULL},
        .api_groups = {json_object_get(r, "apiGroups"), NULL},
        .resources = {json_object_get(r, "resources"), NULL},
        .resource_names = {json_object_get(r, "resourceNames"), NULL},
        .non_resource_urls = {json_object_get(r, "nonResourceURLs"), NULL},
    };
    return out;
}

/* "*" or the value itself is in l. */
static int list_matches(str_list l, const char *value)
{
    for (size_t i = 0, n = list_len(l); i < n; i++)
        if (strcmp(list_at(l, i), "*") == 0 || strcmp(list_at(l, i), value) == 0)
            return 1;
    return 0;
}

/* kube's ResourceMatches: "*", "plural" or "plural/sub" exactly, or
 * "*\/sub" for any resource's subresource sub. */
static int resource_matches(str_list l, const char *resource, const char *subresource)
{
    char combined[512];
    snprintf(combined, sizeof(combined), "%s%s%s", resource, subresource ? "/" : "",
             subresource ? subresource : "");
    for (size_t i = 0, n = list_len(l); i < n; i++) {
        const char *r = list_at(l, i);
        if (strcmp(r, "*") == 0 || strcmp(r, combined) == 0)
            return 1;
        if (subresource && strncmp(r, "*/", 2) == 0 && strcmp(r + 2, subresource) == 0)
            return 1;
    }
    return 0;
}

/* kube's ResourceNameMatches: no names means every object; otherwise the
 * request must name one of them (a list, watch or create without a name
 * never matches). */
static int resource_name_matches(str_list l, const char *name)
{
    if (list_len(l) == 0)
        return 1;
    if (!name || !*name)
        return 0;
    for (size_t i = 0, n = list_len(l); i < n; i++)
        if (strcmp(list_at(l, i), name) == 0)
            return 1;
    return 0;
}

/* kube's NonResourceURLMatches: "*", the path itself, or "prefix*". */
static int non_resource_url_matches(str_list l, const char *path)
{
    for (size_t i = 0, n = list_len(l); i < n; i++) {
        const char *u = list_at(l, i);
        size_t len = strlen(u);
        if (strcmp(u, "*") == 0 || strcmp(u, path) == 0)
            return 1;
        if (len && u[len - 1] == '*' && strncmp(path, u, len - 1) == 0)
            return 1;
    }
    return 0;
}

static int empty(const char *s)
{
    return !s || !*s;
}

/* kube's RuleAllows. */
static int rule_allows(const rule *r, const mc_server_authz_request *what)
{
    const char *verb = what->verb ? what->verb : "";
    if (!list_matches(r->verbs, verb))
        return 0;
    if (what->path)
        return non_resource_url_matches(r->non_resource_urls, what->path);
    return list_matches(r->api_groups, what->group ? what->group : "") &&
           resource_matches(r->resources, what->resource ? what->resource : "",
                            empty(what->subresource) ? NULL : what->subresource) &&
           resource_name_matches(r->resource_names, what->name);
}

/* ---- subjects ---- */

static const char *member(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

/* kube's appliesToUser: a User by name, a Group by membership, a
 * ServiceAccount by its user name (namespace defaulting to the binding's). */
static int subject_matches(const json_t *subject, const char *binding_ns,
                           const mc_server_identity *identity)
{
    const char *kind = member(subject, "kind"), *name = member(subject, "name");
    if (strcmp(kind, "User") == 0)
        return strcmp(name, identity->user) == 0;
    if (strcmp(kind, "Group") == 0)
        return mc_server_identity_in_group(identity, name);
    if (strcmp(kind, "ServiceAccount") == 0) {
        const char *ns = member(subject, "namespace");
        char user[MC_SERVER_USER_MAX];
        snprintf(user, sizeof(user), "system:serviceaccount:%.253s:%.253s",
                 *ns          ? ns
                 : binding_ns ? binding_ns
                              : "",
                 name);
        return strcmp(user, identity->user) == 0;
    }
    return 0;
}

/* kube's describe of a subject: `ServiceAccount "sa/ns"`, `User "u"`. */
static void describe_subject(const json_t *subject, const char *binding_ns, char *out, size_t size)
{
    const char *kind = member(subject, "kind"), *ns = member(subject, "namespace");
    if (strcmp(kind, "ServiceAccount") == 0)
        snprintf(out, size, "%s \"%.253s/%.253s\"", kind, member(subject, "name"),
                 *ns          ? ns
                 : binding_ns ? binding_ns
                              : "");
    else
        snprintf(out, size, "%.20s \"%.253s\"", kind, member(subject, "name"));
}

/* ---- bindings ---- */

/* The rules of the role a binding refers to (JSON array; NULL when the
 * role does not exist, which kube's authorizer skips). */
static const json_t *bound_rules(const mc_server_rbac_source *rbac, const json_t *binding,
                                 const char *binding_ns)
{
    const json_t *ref = json_object_get(binding, "roleRef");
    const char *kind = member(ref, "kind"), *name = member(ref, "name");
    const json_t *role = NULL;
    if (strcmp(kind, "ClusterRole") == 0)
        role = rbac->get(rbac->ctx, "clusterroles", NULL, name);
    else if (strcmp(kind, "Role") == 0 && binding_ns)
        role = rbac->get(rbac->ctx, "roles", binding_ns, name);
    return role ? json_object_get(role, "rules") : NULL;
}

/* Where a rule comes from: a binding (binding_ns NULL for a
 * ClusterRoleBinding) and the subject that named the identity, or one of
 * the defaults. */
typedef struct rule_origin {
    const json_t *binding;
    const char *binding_ns;
    const json_t *subject;
    const char *default_role; /* set for a default rule */
} rule_origin;

/* Called for each rule the identity has; 1 stops the walk. */
typedef int (*rule_visitor)(void *ctx, const rule *r, const rule_origin *origin);

/* The rules of binding when it names identity. */
static int visit_binding(const mc_server_rbac_source *rbac, const json_t *binding,
                         const char *binding_ns, const mc_server_identity *identity,
                         rule_visitor fn, void *ctx)
{
    rule_origin origin = {binding, binding_ns, NULL, NULL};
    size_t i;
    const json_t *s, *r;
    json_array_foreach(json_object_get(binding, "subjects"), i, s) if (subject_matches(s, binding_ns,
                                                                                        identity))
    {
        origin.subject = s;
        break;
    }
    if (!origin.subject)
        return 0;
    json_array_foreach(bound_rules(rbac, binding, binding_ns), i, r)
    {
        rule one = rule_from_json(r);
        if (fn(ctx, &one, &origin))
            return 1;
    }
    return 0;
}

static int visit_bindings(const mc_server_rbac_source *rbac, const char *plural, const char *ns,
                          const mc_server_identity *identity, rule_visitor fn, void *ctx)
{
    size_t count = 0;
    const json_t **bindings = rbac->list(rbac->ctx, plural, ns, &count);
    int stop = 0;
    for (size_t i = 0; i < count && !stop; i++)
        stop = visit_binding(rbac, bindings[i], ns, identity, fn, ctx);
    free(bindings);
    return stop;
}

/* ---- the defaults every cluster has ---- */

static const char *const get_verb[] = {"get", NULL};
static const char *const create_verb[] = {"create", NULL};
static const char *const no_strings[] = {NULL};

/* kube's system:discovery and system:public-info-viewer ClusterRoles. */
static const char *const discovery_urls[] = {
    "/api",    "/api/*",   "/apis",     "/apis/*",  "/healthz",   "/livez",
    "/readyz", "/version", "/version/", "/openapi", "/openapi/*", NULL,
};
static const char *const authorization_group[] = {"authorization.k8s.io", NULL};
static const char *const authentication_group[] = {"authentication.k8s.io", NULL};
static const char *const access_reviews[] = {"selfsubjectaccessreviews", "selfsubjectrulesreviews",
                                             NULL};
static const char *const self_reviews[] = {"selfsubjectreviews", NULL};

static const struct {
    const char *role; /* the ClusterRole and ClusterRoleBinding kube names it */
    rule rule;
} default_rules[] = {
    {"system:discovery",
     {{NULL, get_verb},
      {NULL, no_strings},
      {NULL, no_strings},
      {NULL, no_strings},
      {NULL, discovery_urls}}},
    {"system:basic-user",
     {{NULL, create_verb},
      {NULL, authorization_group},
      {NULL, access_reviews},
      {NULL, no_strings},
      {NULL, no_strings}}},
    {"system:basic-user",
     {{NULL, create_verb},
      {NULL, authentication_group},
      {NULL, self_reviews},
      {NULL, no_strings},
      {NULL, no_strings}}},
};

static int visit_defaults(const mc_server_identity *identity, rule_visitor fn, void *ctx)
{
    if (!mc_server_identity_in_group(identity, "system:authenticated"))
        return 0;
    for (size_t i = 0; i < sizeof(default_rules) / sizeof(default_rules[0]); i++) {
        rule_origin origin = {NULL, NULL, NULL, default_rules[i].role};
        if (fn(ctx, &default_rules[i].rule, &origin))
            return 1;
    }
    return 0;
}

/* Every rule identity has for a request in namespace ns (NULL or "": none,
 * only ClusterRoleBindings count), kube's VisitRulesFor order: the
 * defaults, ClusterRoleBindings, then the namespace's RoleBindings. */
static int visit_rules(const mc_server_rbac_source *rbac, const mc_server_identity *identity,
                       const char *ns, rule_visitor fn, void *ctx)
{
    if (visit_defaults(identity, fn, ctx))
        return 1;
    if (!rbac)
        return 0;
    if (visit_bindings(rbac, "clusterrolebindings", NULL, identity, fn, ctx))
        return 1;
    return !empty(ns) && visit_bindings(rbac, "rolebindings", ns, identity, fn, ctx);
}

/* ---- the decision ---- */

typedef struct allow_ctx {
    const mc_server_authz_request *what;
    char *reason;
    size_t size;
} allow_ctx;

/* kube's reason for an allow: `RBAC: allowed by RoleBinding "b/ns" of Role
 * "r" to ServiceAccount "sa/ns"`. */
static void describe_origin(const rule_origin *o, char *out, size_t size)
{
    if (o->default_role) {
        snprintf(out, size,
                 "RBAC: allowed by ClusterRoleBinding \"%s\" of ClusterRole \"%s\" to Group "
                 "\"system:authenticated\"",
                 o->default_role, o->default_role);
        return;
    }
    char who[600], name[600];
    describe_subject(o->subject, o->binding_ns, who, sizeof(who));
    const char *binding_name = member(json_object_get(o->binding, "metadata"), "name");
    if (o->binding_ns)
        snprintf(name, sizeof(name), "%.253s/%.253s", binding_name, o->binding_ns);
    else
        snprintf(name, sizeof(name), "%.253s", binding_name);
    const json_t *ref = json_object_get(o->binding, "roleRef");
    snprintf(out, size, "RBAC: allowed by %s \"%s\" of %.20s \"%.253s\" to %s",
             o->binding_ns ? "RoleBinding" : "ClusterRoleBinding", name, member(ref, "kind"),
             member(ref, "name"), who);
}

static int allow_visitor(void *ctx, const rule *r, const rule_origin *origin)
{
    allow_ctx *a = ctx;
    if (!rule_allows(r, a->what))
        return 0;
    if (a->reason && a->size)
        describe_origin(origin, a->reason, a->size);
    return 1;
}

int mc_server_rbac_allows(const mc_server_rbac_source *rbac, const mc_server_identity *identity,
                          const mc_server_authz_request *what, char *reason, size_t reason_size)
{
    if (reason && reason_size)
        reason[0] = '\0';
    if (!identity || !what)
        return 0;
    allow_ctx ctx = {what, reason, reason_size};
    /* RoleBindings never grant non-resource URLs */
    if (visit_rules(rbac, identity, what->path ? NULL : what->namespace, allow_visitor, &ctx))
        return 1;
    if (reason && reason_size)
        reason[0] = '\0';
    return 0;
}

/* ---- the rules, for SelfSubjectRulesReview ---- */

typedef struct rules_ctx {
    json_t *resource_rules, *non_resource_rules;
} rules_ctx;

static json_t *list_json(str_list l)
{
    json_t *out = json_array();
    for (size_t i = 0, n = list_len(l); i < n; i++)
        json_array_append_new(out, json_string(list_at(l, i)));
    return out;
}

static int rules_visitor(void *ctx, const rule *r, const rule_origin *origin)
{
    (void)origin;
    rules_ctx *c = ctx;
    if (list_len(r->non_resource_urls)) {
        json_array_append_new(c->non_resource_rules,
                              json_pack("{s:o,s:o}", "verbs", list_json(r->verbs),
                                        "nonResourceURLs", list_json(r->non_resource_urls)));
        return 0;
    }
    json_t *out = json_pack("{s:o,s:o,s:o}", "verbs", list_json(r->verbs), "apiGroups",
                            list_json(r->api_groups), "resources", list_json(r->resources));
    if (out && list_len(r->resource_names))
        json_object_set_new(out, "resourceNames", list_json(r->resource_names));
    json_array_append_new(c->resource_rules, out);
    return 0;
}

void mc_server_rbac_rules(const mc_server_rbac_source *rbac, const mc_server_identity *identity,
                          const char *ns, json_t *resource_rules, json_t *non_resource_rules)
{
    rules_ctx ctx = {resource_rules, non_resource_rules};
    if (identity)
        visit_rules(rbac, identity, ns, rules_visitor, &ctx);
}
