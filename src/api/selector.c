/* selector.c - label selector lexer, parser, matcher and formatter (see
 * selector.h).
 *
 * The lexer follows apimachinery's: identifiers are runs of characters that
 * are neither blanks nor one of `!=(),<>`; `in` and `notin` are keywords only
 * where an operator is expected, so a label may still be called "in". `<` and
 * `>` (numeric comparisons, node affinity only) are rejected.
 */
#include "api/selector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/validate.h"
#include "util/buf.h"
#include "util/str.h"

typedef enum tok_kind {
    TOK_END,
    TOK_IDENT,
    TOK_COMMA,
    TOK_OPEN,
    TOK_CLOSE,
    TOK_EQ,     /* = */
    TOK_EQEQ,   /* == */
    TOK_NEQ,    /* != */
    TOK_BANG,   /* ! */
    TOK_CMP,    /* < or > */
} tok_kind;

typedef struct tok {
    tok_kind kind;
    size_t start; /* offset in text */
    size_t len;
} tok;

typedef struct parser {
    const char *text;
    size_t pos; /* next unread character */
    tok cur;    /* current token */
    mc_err *err;
} parser;

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_special(char c)
{
    return c == '!' || c == '=' || c == '(' || c == ')' || c == ',' || c == '<' || c == '>';
}

static void next(parser *p)
{
    const char *t = p->text;
    while (is_blank(t[p->pos]))
        p->pos++;
    tok *k = &p->cur;
    k->start = p->pos;
    k->len = 1;
    char c = t[p->pos];
    switch (c) {
    case '\0': k->kind = TOK_END; k->len = 0; return;
    case ',': k->kind = TOK_COMMA; break;
    case '(': k->kind = TOK_OPEN; break;
    case ')': k->kind = TOK_CLOSE; break;
    case '<':
    case '>': k->kind = TOK_CMP; break;
    case '=':
        k->kind = TOK_EQ;
        if (t[p->pos + 1] == '=') {
            k->kind = TOK_EQEQ;
            k->len = 2;
        }
        break;
    case '!':
        k->kind = TOK_BANG;
        if (t[p->pos + 1] == '=') {
            k->kind = TOK_NEQ;
            k->len = 2;
        }
        break;
    default:
        k->kind = TOK_IDENT;
        k->len = 0;
        while (t[p->pos + k->len] && !is_blank(t[p->pos + k->len]) &&
               !is_special(t[p->pos + k->len]))
            k->len++;
        break;
    }
    p->pos += k->len;
}

static int fail_at(parser *p, size_t offset, const char *what)
{
    return mc_err_set(p->err, MC_EINVAL, "label selector \"%.200s\": offset %zu: %s", p->text,
                      offset, what);
}

static bool ident_is(const parser *p, const char *word)
{
    return p->cur.kind == TOK_IDENT && p->cur.len == strlen(word) &&
           strncmp(p->text + p->cur.start, word, p->cur.len) == 0;
}

static char *ident_copy(const parser *p)
{
    return mc_strndup(p->text + p->cur.start, p->cur.len);
}

static void requirement_clear(mc_selector_requirement *r)
{
    free(r->key);
    for (size_t i = 0; i < r->values_len; i++)
        free(r->values[i]);
    free(r->values);
    memset(r, 0, sizeof(*r));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_req(const void *a, const void *b)
{
    const mc_selector_requirement *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (int)x->op - (int)y->op;
}

/* Sorts values and drops duplicates. */
static void normalise_values(mc_selector_requirement *r)
{
    if (r->values_len < 2)
        return;
    qsort(r->values, r->values_len, sizeof(char *), cmp_str);
    size_t out = 1;
    for (size_t i = 1; i < r->values_len; i++) {
        if (strcmp(r->values[i], r->values[out - 1]) == 0)
            free(r->values[i]);
        else
            r->values[out++] = r->values[i];
    }
    r->values_len = out;
}

static int add_value(parser *p, mc_selector_requirement *r, char *value, size_t offset)
{
    if (!value)
        return mc_err_set(p->err, MC_ENOMEM, "label selector: out of memory");
    mc_err verr;
    if (mc_validate_label_value(value, &verr) != 0) {
        free(value);
        return fail_at(p, offset, verr.msg);
    }
    char **grown = realloc(r->values, (r->values_len + 1) * sizeof(char *));
    if (!grown) {
        free(value);
        return mc_err_set(p->err, MC_ENOMEM, "label selector: out of memory");
    }
    r->values = grown;
    r->values[r->values_len++] = value;
    return 0;
}

/* After `in`/`notin`: "(" value {"," value} ")", where an empty value between
 * commas is the empty string, as in apimachinery. */
static int parse_set(parser *p, mc_selector_requirement *r)
{
    next(p);
    if (p->cur.kind != TOK_OPEN)
        return fail_at(p, p->cur.start, "expected '(' after in/notin");
    size_t open = p->cur.start;
    next(p);
    if (p->cur.kind == TOK_CLOSE)
        return fail_at(p, p->cur.start, "the set of values of in/notin is empty");
    for (;;) {
        int rc;
        if (p->cur.kind == TOK_IDENT) {
            if ((rc = add_value(p, r, ident_copy(p), p->cur.start)) != 0)
                return rc;
            next(p);
        } else if (p->cur.kind == TOK_COMMA || p->cur.kind == TOK_CLOSE) {
            if ((rc = add_value(p, r, mc_strdup(""), p->cur.start)) != 0)
                return rc;
        } else if (p->cur.kind == TOK_END) {
            char what[64];
            snprintf(what, sizeof(what), "expected ')' to close the '(' at offset %zu", open);
            return fail_at(p, p->cur.start, what);
        } else {
            return fail_at(p, p->cur.start, "expected a value, ',' or ')'");
        }
        if (p->cur.kind == TOK_CLOSE) {
            next(p);
            return 0;
        }
        if (p->cur.kind != TOK_COMMA)
            return fail_at(p, p->cur.start, "expected ',' or ')'");
        next(p);
    }
}

static int parse_key(parser *p, mc_selector_requirement *r)
{
    if (p->cur.kind != TOK_IDENT)
        return fail_at(p, p->cur.start, p->cur.kind == TOK_END ? "expected a label key"
                                                               : "expected a label key here");
    r->key = ident_copy(p);
    if (!r->key)
        return mc_err_set(p->err, MC_ENOMEM, "label selector: out of memory");
    mc_err verr;
    if (mc_validate_qualified_name(r->key, &verr) != 0)
        return fail_at(p, p->cur.start, verr.msg);
    next(p);
    return 0;
}

static int parse_requirement(parser *p, mc_selector_requirement *r)
{
    int rc;
    if (p->cur.kind == TOK_BANG) {
        next(p);
        r->op = MC_SELECTOR_NOT_EXISTS;
        return parse_key(p, r);
    }
    if ((rc = parse_key(p, r)) != 0)
        return rc;
    switch (p->cur.kind) {
    case TOK_END:
    case TOK_COMMA: r->op = MC_SELECTOR_EXISTS; return 0;
    case TOK_EQ:
    case TOK_EQEQ:
    case TOK_NEQ:
        r->op = p->cur.kind == TOK_NEQ ? MC_SELECTOR_NOT_EQUALS : MC_SELECTOR_EQUALS;
        next(p);
        if (p->cur.kind == TOK_IDENT) {
            rc = add_value(p, r, ident_copy(p), p->cur.start);
            next(p);
            return rc;
        }
        if (p->cur.kind == TOK_END || p->cur.kind == TOK_COMMA)
            return add_value(p, r, mc_strdup(""), p->cur.start);
        return fail_at(p, p->cur.start, "expected a value");
    case TOK_CMP:
        return fail_at(p, p->cur.start, "'<' and '>' are not supported in label selectors");
    case TOK_IDENT:
        if (ident_is(p, "in")) {
            r->op = MC_SELECTOR_IN;
            return parse_set(p, r);
        }
        if (ident_is(p, "notin")) {
            r->op = MC_SELECTOR_NOT_IN;
            return parse_set(p, r);
        }
        return fail_at(p, p->cur.start, "expected '=', '==', '!=', 'in', 'notin' or ','");
    default:
        return fail_at(p, p->cur.start, "expected '=', '==', '!=', 'in', 'notin' or ','");
    }
}

static int append_req(mc_selector *s, mc_selector_requirement **slot)
{
    mc_selector_requirement *grown = realloc(s->reqs, (s->len + 1) * sizeof(*grown));
    if (!grown)
        return MC_ENOMEM;
    s->reqs = grown;
    memset(&grown[s->len], 0, sizeof(*grown));
    *slot = &grown[s->len++];
    return 0;
}

static void finish(mc_selector *s)
{
    for (size_t i = 0; i < s->len; i++)
        normalise_values(&s->reqs[i]);
    if (s->len > 1)
        qsort(s->reqs, s->len, sizeof(*s->reqs), cmp_req);
}

int mc_selector_parse(const char *text, mc_selector **out, mc_err *err)
{
    if (strlen(text) > MC_SELECTOR_MAX)
        return mc_err_set(err, MC_ELIMIT, "label selector of %zu bytes, more than %d",
                          strlen(text), MC_SELECTOR_MAX);
    mc_selector *s = calloc(1, sizeof(*s));
    if (!s)
        return mc_err_set(err, MC_ENOMEM, "label selector: out of memory");
    parser p = {.text = text, .pos = 0, .err = err};
    int rc = 0;
    next(&p);
    if (p.cur.kind == TOK_END)
        goto done;
    for (;;) {
        mc_selector_requirement *r;
        if (append_req(s, &r) != 0) {
            rc = mc_err_set(err, MC_ENOMEM, "label selector: out of memory");
            goto done;
        }
        if ((rc = parse_requirement(&p, r)) != 0)
            goto done;
        if (p.cur.kind == TOK_END)
            break;
        if (p.cur.kind != TOK_COMMA) {
            rc = fail_at(&p, p.cur.start, "expected ',' or the end of the selector");
            goto done;
        }
        next(&p);
        if (p.cur.kind == TOK_END) {
            rc = fail_at(&p, p.cur.start, "expected a requirement after ','");
            goto done;
        }
    }
done:
    if (rc != 0) {
        mc_selector_free(s);
        return rc;
    }
    finish(s);
    *out = s;
    return 0;
}

int mc_selector_from_map(const mc_api_str_map *labels, mc_selector **out, mc_err *err)
{
    mc_selector *s = calloc(1, sizeof(*s));
    if (!s)
        return mc_err_set(err, MC_ENOMEM, "label selector: out of memory");
    for (size_t i = 0; i < labels->len; i++) {
        mc_selector_requirement *r;
        int rc = mc_validate_qualified_name(labels->items[i].key, err);
        if (rc == 0)
            rc = mc_validate_label_value(labels->items[i].value, err);
        if (rc != 0) {
            mc_selector_free(s);
            return rc;
        }
        if (append_req(s, &r) != 0 || !(r->key = mc_strdup(labels->items[i].key)) ||
            !(r->values = malloc(sizeof(char *))) ||
            !(r->values[0] = mc_strdup(labels->items[i].value))) {
            mc_selector_free(s);
            return mc_err_set(err, MC_ENOMEM, "label selector: out of memory");
        }
        r->values_len = 1;
        r->op = MC_SELECTOR_EQUALS;
    }
    finish(s);
    *out = s;
    return 0;
}

void mc_selector_free(mc_selector *selector)
{
    if (!selector)
        return;
    for (size_t i = 0; i < selector->len; i++)
        requirement_clear(&selector->reqs[i]);
    free(selector->reqs);
    free(selector);
}

static bool has_value(const mc_selector_requirement *r, const char *v)
{
    for (size_t i = 0; i < r->values_len; i++)
        if (strcmp(r->values[i], v) == 0)
            return true;
    return false;
}

/* lookup returns the label's value or NULL; ctx is the label container. */
typedef const char *(*lookup_fn)(const void *ctx, const char *key);

static bool matches(const mc_selector *s, lookup_fn lookup, const void *ctx)
{
    for (size_t i = 0; i < s->len; i++) {
        const mc_selector_requirement *r = &s->reqs[i];
        const char *v = lookup(ctx, r->key);
        bool ok;
        switch (r->op) {
        case MC_SELECTOR_EQUALS:
        case MC_SELECTOR_IN: ok = v && has_value(r, v); break;
        case MC_SELECTOR_NOT_EQUALS:
        case MC_SELECTOR_NOT_IN: ok = !v || !has_value(r, v); break;
        case MC_SELECTOR_EXISTS: ok = v != NULL; break;
        case MC_SELECTOR_NOT_EXISTS: ok = v == NULL; break;
        default: ok = false; break;
        }
        if (!ok)
            return false;
    }
    return true;
}

static const char *lookup_map(const void *ctx, const char *key)
{
    return ctx ? mc_api_str_map_get(ctx, key) : NULL;
}

static const char *lookup_json(const void *ctx, const char *key)
{
    return json_string_value(json_object_get(ctx, key));
}

bool mc_selector_matches(const mc_selector *selector, const mc_api_str_map *labels)
{
    return matches(selector, lookup_map, labels);
}

bool mc_selector_matches_json(const mc_selector *selector, const json_t *labels)
{
    return matches(selector, lookup_json, labels);
}

char *mc_selector_format(const mc_selector *selector)
{
    mc_buf b;
    mc_buf_init(&b, MC_SELECTOR_MAX * 2);
    int rc = mc_buf_append_str(&b, "");
    for (size_t i = 0; rc == 0 && i < selector->len; i++) {
        const mc_selector_requirement *r = &selector->reqs[i];
        if (i > 0)
            rc = mc_buf_append_str(&b, ",");
        if (rc == 0 && r->op == MC_SELECTOR_NOT_EXISTS)
            rc = mc_buf_append_str(&b, "!");
        if (rc == 0)
            rc = mc_buf_append_str(&b, r->key);
        if (rc != 0)
            break;
        switch (r->op) {
        case MC_SELECTOR_EQUALS:
        case MC_SELECTOR_NOT_EQUALS:
            rc = mc_buf_appendf(&b, "%s%s", r->op == MC_SELECTOR_EQUALS ? "=" : "!=",
                                r->values_len ? r->values[0] : "");
            break;
        case MC_SELECTOR_IN:
        case MC_SELECTOR_NOT_IN:
            rc = mc_buf_append_str(&b, r->op == MC_SELECTOR_IN ? " in (" : " notin (");
            for (size_t j = 0; rc == 0 && j < r->values_len; j++)
                rc = mc_buf_appendf(&b, "%s%s", j ? "," : "", r->values[j]);
            /* {""} alone would print as "()", which is an empty set; "(,)"
             * parses back to {""} (found by fuzz_selector). */
            if (rc == 0 && r->values_len == 1 && r->values[0][0] == '\0')
                rc = mc_buf_append_str(&b, ",");
            if (rc == 0)
                rc = mc_buf_append_str(&b, ")");
            break;
        default: break;
        }
    }
    if (rc != 0) {
        mc_buf_free(&b);
        return NULL;
    }
    return mc_buf_steal(&b, NULL);
}
