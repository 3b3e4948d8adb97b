/* list.c - list and watch event codecs (see list.h).
 *
 * Items are never copied: a list of 5000 pods is decoded by taking a
 * reference to its items array, and each item is decoded on demand.
 */
#include "api/list.h"

#include <stdlib.h>
#include <string.h>

#include "api/codec.h"
#include "util/str.h"

mc_api_list *mc_api_list_new(const char *api_version, const char *kind)
{
    mc_api_list *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->api_version = mc_strdup(api_version);
    l->kind = mc_strdup(kind);
    l->items = json_array();
    if (!l->api_version || !l->kind || !l->items) {
        mc_api_list_free(l);
        return NULL;
    }
    return l;
}

void mc_api_list_free(mc_api_list *list)
{
    if (!list)
        return;
    json_decref(list->raw);
    free(list->api_version);
    free(list->kind);
    free(list->resource_version);
    free(list->continue_token);
    json_decref(list->items);
    free(list);
}

int mc_api_list_decode(json_t *json, mc_api_list **out, mc_err *err)
{
    mc_codec_ctx ctx;
    mc_codec_ctx_init(&ctx, "list", json);
    if (!json_is_object(json))
        return mc_err_set(err, MC_EINVAL, "list: expected a JSON object");
    mc_api_list *l = calloc(1, sizeof(*l));
    if (!l)
        return mc_err_set(err, MC_ENOMEM, "list: out of memory");
    l->raw = json_incref(json);
    const json_t *meta, *items;
    int rc;
    if ((rc = mc_codec_get_string(json, "apiVersion", &l->api_version, &ctx, "apiVersion", err)) !=
            0 ||
        (rc = mc_codec_get_string(json, "kind", &l->kind, &ctx, "kind", err)) != 0 ||
        (rc = mc_codec_get_object(json, "metadata", &meta, &ctx, "metadata", err)) != 0 ||
        (rc = mc_codec_get_string(meta, "resourceVersion", &l->resource_version, &ctx,
                                  "metadata.resourceVersion", err)) != 0 ||
        (rc = mc_codec_get_string(meta, "continue", &l->continue_token, &ctx,
                                  "metadata.continue", err)) != 0 ||
        (rc = mc_codec_get_int64(meta, "remainingItemCount", &l->remaining_item_count, &ctx,
                                 "metadata.remainingItemCount", err)) != 0 ||
        (rc = mc_codec_get_array(json, "items", &items, &ctx, "items", err)) != 0)
        goto fail;
    if (l->kind && (strlen(l->kind) < 4 || strcmp(l->kind + strlen(l->kind) - 4, "List") != 0)) {
        rc = mc_err_set(err, MC_EINVAL, "list: kind: \"%.80s\" does not end in List", l->kind);
        goto fail;
    }
    if (!json_object_get(json, "items")) {
        rc = mc_err_set(err, MC_EINVAL, "list: items: required");
        goto fail;
    }
    l->items = items ? json_incref((json_t *)items) : json_array();
    if (!l->items) {
        rc = mc_err_set(err, MC_ENOMEM, "list: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(l->items); i++) {
        if (!json_is_object(json_array_get(l->items, i))) {
            rc = mc_err_set(err, MC_EINVAL, "list: items[%zu]: expected an object", i);
            goto fail;
        }
    }
    *out = l;
    return 0;
fail:
    mc_api_list_free(l);
    return rc;
}

int mc_api_list_encode(const mc_api_list *list, json_t **out, mc_err *err)
{
    json_t *obj = mc_codec_begin(list->raw), *saved = NULL, *meta = NULL;
    if (!obj || mc_codec_put_string(obj, "apiVersion", list->api_version) != 0 ||
        mc_codec_put_string(obj, "kind", list->kind) != 0 ||
        !(meta = mc_codec_child(obj, "metadata", &saved)))
        goto fail;
    if (mc_codec_put_string(meta, "resourceVersion", list->resource_version) != 0 ||
        mc_codec_put_string(meta, "continue", list->continue_token) != 0 ||
        mc_codec_put_int64(meta, "remainingItemCount", list->remaining_item_count) != 0) {
        json_decref(saved);
        goto fail;
    }
    /* The API server always sends "metadata" on a list, even when empty. */
    if (!list->raw && json_object_size(meta) == 0) {
        json_decref(saved);
    } else if (mc_codec_child_done(obj, "metadata", saved) != 0) {
        goto fail;
    }
    /* items is always present on a list ("items": [] when empty), unlike omitempty. */
    json_t *existing = json_object_get(obj, "items");
    if (!(json_is_null(existing) && json_array_size(list->items) == 0)) {
        int rc = list->items ? json_object_set(obj, "items", list->items)
                             : json_object_set_new(obj, "items", json_array());
        if (rc != 0)
            goto fail;
    }
    *out = obj;
    return 0;
fail:
    json_decref(obj);
    return mc_err_set(err, MC_ENOMEM, "encoding list: out of memory");
}

static const char *const watch_names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};

const char *mc_api_watch_type_name(mc_api_watch_type type)
{
    return (unsigned)type <= MC_WATCH_ERROR ? watch_names[type] : "UNKNOWN";
}

int mc_api_watch_type_parse(const char *name, mc_api_watch_type *type)
{
    for (int i = 0; i <= MC_WATCH_ERROR; i++) {
        if (strcmp(name, watch_names[i]) == 0) {
            *type = (mc_api_watch_type)i;
            return 0;
        }
    }
    return MC_EINVAL;
}

mc_api_watch_event *mc_api_watch_event_new(mc_api_watch_type type, json_t *object)
{
    mc_api_watch_event *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->type = type;
    e->object = json_incref(object);
    return e;
}

void mc_api_watch_event_free(mc_api_watch_event *event)
{
    if (!event)
        return;
    json_decref(event->raw);
    json_decref(event->object);
    free(event);
}

int mc_api_watch_event_decode(json_t *json, mc_api_watch_event **out, mc_err *err)
{
    if (!json_is_object(json))
        return mc_err_set(err, MC_EINVAL, "watch event: expected a JSON object");
    const char *type = json_string_value(json_object_get(json, "type"));
    json_t *object = json_object_get(json, "object");
    mc_api_watch_type t;
    if (!type)
        return mc_err_set(err, MC_EINVAL, "watch event: type: required string");
    if (mc_api_watch_type_parse(type, &t) != 0)
        return mc_err_set(err, MC_EINVAL, "watch event: type: unknown \"%.40s\"", type);
    if (!json_is_object(object))
        return mc_err_set(err, MC_EINVAL, "watch event: object: expected an object");
    mc_api_watch_event *e = mc_api_watch_event_new(t, object);
    if (!e)
        return mc_err_set(err, MC_ENOMEM, "watch event: out of memory");
    e->raw = json_incref(json);
    *out = e;
    return 0;
}

int mc_api_watch_event_parse(const char *line, size_t len, mc_api_watch_event **out,
                             mc_err *err)
{
    json_t *json;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    int rc = mc_api_json_parse(line, len, &json, err);
    if (rc != 0)
        return mc_err_prefix(err, "watch event");
    rc = mc_api_watch_event_decode(json, out, err);
    json_decref(json);
    return rc;
}

int mc_api_watch_event_encode(const mc_api_watch_event *event, json_t **out, mc_err *err)
{
    json_t *obj = mc_codec_begin(event->raw);
    if (!obj ||
        json_object_set_new(obj, "type", json_string(mc_api_watch_type_name(event->type))) != 0 ||
        json_object_set(obj, "object", event->object) != 0) {
        json_decref(obj);
        return mc_err_set(err, MC_ENOMEM, "encoding watch event: out of memory");
    }
    *out = obj;
    return 0;
}
