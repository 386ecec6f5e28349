/*
 * template.c — the mustache subset of template.h, rendered over jansson values.
 *
 * A render runs in two steps. template_parse() turns the source into a tree
 * of nodes (text, variable, section, partial) without recursion, checking
 * every tag and section, so a syntax error anywhere — even inside a section
 * that the data would skip — fails the whole render. render_nodes() then
 * walks the tree with a stack of contexts. All nodes, temporaries and the
 * output come from the caller's arena.
 *
 * The renderer takes templates from anywhere (and is fuzzed), so every cost
 * is bounded: sections nest at most TEMPLATE_MAX_NESTING deep in one
 * template and TEMPLATE_MAX_CONTEXTS deep across partials, partials
 * TEMPLATE_MAX_PARTIALS deep (together these bound the C recursion), and a
 * render gives up after TEMPLATE_MAX_STEPS nodes or TEMPLATE_MAX_OUTPUT
 * bytes, so a self-including partial or nested loops over big arrays cannot
 * run away.
 *
 * Files under STUDIOD_HOME/templates are read once into a process-wide cache
 * (file_cache_*) that lives until exit; a render may hold pointers into it
 * without a lock because entries are never changed or freed while running.
 */
#include "studiod/template.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "studiod/config.h"

#define TEMPLATE_MAX_NESTING 64
#define TEMPLATE_MAX_PARTIALS 16
#define TEMPLATE_MAX_CONTEXTS 256
#define TEMPLATE_MAX_STEPS (1u << 22)
#define TEMPLATE_MAX_OUTPUT (16u << 20)
#define TEMPLATE_MAX_NAME 128
#define TEMPLATE_MAX_FILE (4u << 20)

enum node_kind { NODE_TEXT, NODE_VAR, NODE_RAW, NODE_SECTION, NODE_INVERTED, NODE_PARTIAL };

struct node {
    enum node_kind kind;
    const char *text;      /* NODE_TEXT: the bytes; otherwise the tag's name */
    size_t len;            /* length of text */
    struct node *children; /* sections */
    struct node *next;
};

/* A partial already parsed during this render, so each is loaded once. */
struct partial {
    const char *name;
    struct node *nodes;
    struct partial *next;
};

struct render {
    struct arena *a;
    struct buf out;
    template_loader loader;
    void *ud;
    json_t *stack[TEMPLATE_MAX_CONTEXTS + 2]; /* + the two a page starts with */
    int depth;
    int nesting; /* sections being rendered, inverted ones included */
    int partial_depth;
    size_t steps;
    struct partial *partials;
    const char *err;
};

/* A section open while parsing, and where its parent's list goes on once it closes. */
struct open_section {
    struct node *node;
    struct node **tail;
};

struct cache_entry {
    char *path;
    char *src;
    struct cache_entry *next;
};

static struct node *template_parse(struct arena *a, const char *src, const char **err);
static struct node *node_append(struct arena *a, struct node ***tail, enum node_kind kind,
                                const char *text, size_t len);
static const char *parse_error(struct arena *a, const char *src, const char *at, const char *what,
                               const char *name, size_t name_len);
static int render_nodes(struct render *r, const struct node *n);
static int render_section(struct render *r, const struct node *n);
static int render_section_body(struct render *r, const struct node *n, json_t *v);
static int render_partial(struct render *r, const struct node *n);
static int render_value(struct render *r, json_t *v, bool raw);
static int render_push(struct render *r, json_t *v);
static json_t *render_lookup(const struct render *r, const char *name, size_t len);
static bool value_is_falsy(const json_t *v);
static void escape_into(struct buf *b, const char *s, size_t len);
static char *render_run(struct arena *a, const char *src, json_t *const *ctx, int nctx,
                        template_loader loader, void *ud, const char **err);
static bool template_name_ok(const char *name);
static const char *file_loader(void *ud, struct arena *a, const char *name);
static const char *file_cache_get(const char *name);
static char *file_read(const char *path);
static void file_cache_cleanup(void);

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_entry *cache_head; /* guarded by cache_lock */
static bool cache_cleanup_registered;  /* guarded by cache_lock */

/* ---- parsing ---------------------------------------------------------------- */

static struct node *node_append(struct arena *a, struct node ***tail, enum node_kind kind,
                                const char *text, size_t len)
{
    struct node *n = arena_alloc(a, sizeof(*n));
    n->kind = kind;
    n->text = text;
    n->len = len;
    **tail = n;
    *tail = &n->next;
    return n;
}

/* "line 3: unclosed section 'items'" — the line helps whoever edits the template. */
static const char *parse_error(struct arena *a, const char *src, const char *at, const char *what,
                               const char *name, size_t name_len)
{
    unsigned line = 1;
    for (const char *p = src; p < at; p++)
        line += *p == '\n';
    if (name_len > TEMPLATE_MAX_NAME)
        name_len = TEMPLATE_MAX_NAME;
    if (name)
        return arena_printf(a, "template line %u: %s '%.*s'", line, what, (int)name_len, name);
    return arena_printf(a, "template line %u: %s", line, what);
}

/* Turns src into a node list, or NULL with *err set. Iterative: open sections
 * live on an explicit stack, so hostile input cannot overflow the C stack. */
static struct node *template_parse(struct arena *a, const char *src, const char **err)
{
    struct node *head = NULL;
    struct open_section open[TEMPLATE_MAX_NESTING];
    int nopen = 0;
    struct node **tail = &head;
    const char *p = src;

    for (;;) {
        const char *tag = strstr(p, "{{");
        if (!tag) {
            if (*p)
                node_append(a, &tail, NODE_TEXT, p, strlen(p));
            break;
        }
        if (tag > p)
            node_append(a, &tail, NODE_TEXT, p, (size_t)(tag - p));

        const char *q = tag + 2;
        bool triple = *q == '{';
        char sigil = 0;
        if (triple)
            q++;
        else if (*q && strchr("#^/>&!=", *q))
            sigil = *q++;

        const char *closer = triple ? "}}}" : "}}";
        const char *end = strstr(q, closer);
        if (!end) {
            *err = parse_error(a, src, tag, sigil == '!' ? "unclosed comment" : "unclosed tag",
                               NULL, 0);
            return NULL;
        }
        p = end + strlen(closer);
        if (sigil == '!')
            continue;
        if (sigil == '=') {
            *err = parse_error(a, src, tag, "delimiter changes are not supported", NULL, 0);
            return NULL;
        }

        while (q < end && strchr(" \t\r\n", *q))
            q++;
        while (end > q && strchr(" \t\r\n", end[-1]))
            end--;
        size_t len = (size_t)(end - q);
        if (len == 0) {
            *err = parse_error(a, src, tag, "empty tag", NULL, 0);
            return NULL;
        }
        const char *name = arena_strndup(a, q, len);

        switch (sigil) {
        case '#':
        case '^': {
            if (nopen == TEMPLATE_MAX_NESTING) {
                *err = parse_error(a, src, tag, "sections nested too deep at", name, len);
                return NULL;
            }
            struct node *s =
                node_append(a, &tail, sigil == '#' ? NODE_SECTION : NODE_INVERTED, name, len);
            open[nopen].node = s;
            open[nopen].tail = tail;
            nopen++;
            tail = &s->children;
            break;
        }
        case '/':
            if (nopen == 0) {
                *err = parse_error(a, src, tag, "close without open section", name, len);
                return NULL;
            }
            if (open[nopen - 1].node->len != len || memcmp(open[nopen - 1].node->text, name, len)) {
                *err = parse_error(a, src, tag, "mismatched close of section",
                                   open[nopen - 1].node->text, open[nopen - 1].node->len);
                return NULL;
            }
            nopen--;
            tail = open[nopen].tail;
            break;
        case '>':
            node_append(a, &tail, NODE_PARTIAL, name, len);
            break;
        case '&':
            node_append(a, &tail, NODE_RAW, name, len);
            break;
        default:
            node_append(a, &tail, triple ? NODE_RAW : NODE_VAR, name, len);
            break;
        }
    }
    if (nopen > 0) {
        const struct node *s = open[nopen - 1].node;
        *err = parse_error(a, src, src + strlen(src), "unclosed section", s->text, s->len);
        return NULL;
    }
    return head;
}

/* ---- rendering -------------------------------------------------------------- */

/* false, null, [] and "" skip a section (and show an inverted one); 0 does not. */
static bool value_is_falsy(const json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v))
        return true;
    if (json_is_array(v))
        return json_array_size(v) == 0;
    if (json_is_string(v))
        return json_string_length(v) == 0;
    return false;
}

/* The first name segment is searched from the innermost context outwards; the
 * rest must then resolve inside what was found (mustache's dotted names). */
static json_t *render_lookup(const struct render *r, const char *name, size_t len)
{
    if (len == 1 && name[0] == '.')
        return r->depth > 0 ? r->stack[r->depth - 1] : NULL;

    const char *dot = memchr(name, '.', len);
    size_t first = dot ? (size_t)(dot - name) : len;
    if (first == 0)
        return NULL;

    json_t *v = NULL;
    for (int i = r->depth - 1; i >= 0 && !v; i--)
        if (json_is_object(r->stack[i]))
            v = json_object_getn(r->stack[i], name, first);

    const char *seg = name + first;
    const char *end = name + len;
    while (v && seg < end) {
        seg++; /* the dot */
        const char *next = memchr(seg, '.', (size_t)(end - seg));
        size_t n = next ? (size_t)(next - seg) : (size_t)(end - seg);
        if (n == 0 || !json_is_object(v))
            return NULL;
        v = json_object_getn(v, seg, n);
        seg += n;
    }
    return v;
}

/* What each byte that HTML gives a meaning to becomes; '=' and '`' too, since
 * unquoted attribute values and old browsers treat them specially. */
static const char *const html_entities[256] = {
    ['&'] = "&amp;",  ['<'] = "&lt;",  ['>'] = "&gt;",  ['"'] = "&quot;",
    ['\''] = "&#39;", ['`'] = "&#96;", ['='] = "&#61;",
};

static void escape_into(struct buf *b, const char *s, size_t len)
{
    size_t run = 0; /* start of the bytes not yet copied */
    for (size_t i = 0; i < len; i++) {
        const char *rep = html_entities[(unsigned char)s[i]];
        if (!rep)
            continue;
        buf_append(b, s + run, i - run);
        buf_puts(b, rep);
        run = i + 1;
    }
    buf_append(b, s + run, len - run);
}

static int render_value(struct render *r, json_t *v, bool raw)
{
    char num[64];
    const char *s = NULL;
    size_t len = 0;

    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
        s = json_string_value(v);
        len = json_string_length(v);
        break;
    case JSON_INTEGER:
        len = (size_t)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = num;
        break;
    case JSON_REAL: {
        double d = json_real_value(v);
        /* Integral reals print like integers: 1e6 → "1000000", not "1e+06". */
        if (d >= -1e15 && d <= 1e15 && d == (double)(long long)d)
            len = (size_t)snprintf(num, sizeof(num), "%lld", (long long)d);
        else
            len = (size_t)snprintf(num, sizeof(num), "%g", d);
        s = num;
        break;
    }
    case JSON_TRUE:
        s = "true";
        len = 4;
        break;
    default: /* null, false, objects and arrays print nothing */
        return 0;
    }
    if (raw)
        buf_append(&r->out, s, len);
    else
        escape_into(&r->out, s, len);
    if (r->out.len > TEMPLATE_MAX_OUTPUT) {
        r->err = "template output too large";
        return -1;
    }
    return 0;
}

static int render_push(struct render *r, json_t *v)
{
    if ((size_t)r->depth == sizeof(r->stack) / sizeof(r->stack[0])) {
        r->err = "template sections nested too deep";
        return -1;
    }
    r->stack[r->depth++] = v;
    return 0;
}

static int render_section(struct render *r, const struct node *n)
{
    json_t *v = render_lookup(r, n->text, n->len);
    bool falsy = value_is_falsy(v);

    if (falsy != (n->kind == NODE_INVERTED))
        return 0;
    if (r->nesting == TEMPLATE_MAX_CONTEXTS) {
        r->err = "template sections nested too deep";
        return -1;
    }
    r->nesting++;
    int rc = render_section_body(r, n, v);
    r->nesting--;
    return rc;
}

/* A section whose condition holds: inverted ones render once with no new
 * context, arrays once per element, anything else once with v pushed. */
static int render_section_body(struct render *r, const struct node *n, json_t *v)
{
    if (n->kind == NODE_INVERTED)
        return render_nodes(r, n->children);
    if (json_is_array(v)) {
        size_t i;
        json_t *el;
        json_array_foreach(v, i, el)
        {
            if (render_push(r, el))
                return -1;
            int rc = render_nodes(r, n->children);
            r->depth--;
            if (rc)
                return -1;
        }
        return 0;
    }
    if (render_push(r, v))
        return -1;
    int rc = render_nodes(r, n->children);
    r->depth--;
    return rc;
}

static int render_partial(struct render *r, const struct node *n)
{
    if (r->partial_depth >= TEMPLATE_MAX_PARTIALS) {
        r->err = arena_printf(r->a, "partials nested deeper than %d", TEMPLATE_MAX_PARTIALS);
        return -1;
    }
    struct partial *p = r->partials;
    while (p && strcmp(p->name, n->text) != 0)
        p = p->next;
    if (!p) {
        const char *src = r->loader ? r->loader(r->ud, r->a, n->text) : NULL;
        if (!src) {
            r->err = arena_printf(r->a, "unknown partial '%.*s'", TEMPLATE_MAX_NAME, n->text);
            return -1;
        }
        const char *perr = NULL;
        struct node *nodes = template_parse(r->a, src, &perr);
        if (!nodes && perr) {
            r->err = arena_printf(r->a, "partial '%.*s': %s", TEMPLATE_MAX_NAME, n->text, perr);
            return -1;
        }
        p = arena_alloc(r->a, sizeof(*p));
        p->name = n->text;
        p->nodes = nodes;
        p->next = r->partials;
        r->partials = p;
    }
    r->partial_depth++;
    int rc = render_nodes(r, p->nodes);
    r->partial_depth--;
    return rc;
}

/* Recursion goes through sections and partials only, both of which are bounded
 * (TEMPLATE_MAX_CONTEXTS, TEMPLATE_MAX_PARTIALS); siblings are a loop. */
static int render_nodes(struct render *r, const struct node *n)
{
    for (; n; n = n->next) {
        if (++r->steps > TEMPLATE_MAX_STEPS) {
            r->err = "template too expensive to render";
            return -1;
        }
        int rc = 0;
        switch (n->kind) {
        case NODE_TEXT:
            buf_append(&r->out, n->text, n->len);
            if (r->out.len > TEMPLATE_MAX_OUTPUT) {
                r->err = "template output too large";
                rc = -1;
            }
            break;
        case NODE_VAR:
        case NODE_RAW:
            rc = render_value(r, render_lookup(r, n->text, n->len), n->kind == NODE_RAW);
            break;
        case NODE_SECTION:
        case NODE_INVERTED:
            rc = render_section(r, n);
            break;
        case NODE_PARTIAL:
            rc = render_partial(r, n);
            break;
        }
        if (rc)
            return -1;
    }
    return 0;
}

/* Renders src over an initial stack of nctx contexts (outermost first). */
static char *render_run(struct arena *a, const char *src, json_t *const *ctx, int nctx,
                        template_loader loader, void *ud, const char **err)
{
    const char *perr = NULL;
    if (!src) {
        if (err)
            *err = "no template";
        return NULL;
    }
    struct node *nodes = template_parse(a, src, &perr);
    if (!nodes && perr) {
        if (err)
            *err = perr;
        return NULL;
    }

    struct render *r = arena_alloc(a, sizeof(*r)); /* off the C stack: ~2 KiB of contexts */
    r->a = a;
    buf_init(&r->out, a);
    r->loader = loader;
    r->ud = ud;
    for (int i = 0; i < nctx; i++)
        if (ctx[i])
            r->stack[r->depth++] = ctx[i];
    if (render_nodes(r, nodes)) {
        if (err)
            *err = r->err;
        return NULL;
    }
    return (char *)buf_cstr(&r->out);
}

char *template_render(struct arena *a, const char *src, json_t *ctx, template_loader loader,
                      void *ud, const char **err)
{
    return render_run(a, src, &ctx, 1, loader, ud, err);
}

char *template_escape(struct arena *a, const char *s)
{
    struct buf b;
    buf_init(&b, a);
    if (s)
        escape_into(&b, s, strlen(s));
    return (char *)buf_cstr(&b);
}

/* ---- files ------------------------------------------------------------------ */

/* Names come from code and from {{>partials}}: [a-z0-9_/-] only, so no "..",
 * no absolute paths and nothing the shell or the file system reads specially. */
static bool template_name_ok(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > TEMPLATE_MAX_NAME || name[0] == '/')
        return false;
    for (const char *p = name; *p; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '/' ||
                  *p == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* The whole file as a malloc'd string, or NULL. */
static char *file_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    while (s) {
        if (cap - len < 2) {
            char *t = cap < TEMPLATE_MAX_FILE ? realloc(s, cap * 2) : NULL;
            if (!t) {
                free(s);
                s = NULL;
                break;
            }
            s = t;
            cap *= 2;
        }
        size_t n = fread(s + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                free(s);
                s = NULL;
            }
            break;
        }
    }
    fclose(f);
    if (s)
        s[len] = '\0';
    return s;
}

/* Registered with atexit: frees the cache so LeakSanitizer sees no leak. */
static void file_cache_cleanup(void)
{
    pthread_mutex_lock(&cache_lock);
    struct cache_entry *e = cache_head;
    cache_head = NULL;
    pthread_mutex_unlock(&cache_lock);
    while (e) {
        struct cache_entry *next = e->next;
        free(e->path);
        free(e->src);
        free(e);
        e = next;
    }
}

/* The source of templates/<name>.html, read on first use and kept until exit.
 * Missing files are not cached, so a template added later is found. Keyed by
 * the full path, so a different STUDIOD_HOME (in tests) reads its own files. */
static const char *file_cache_get(const char *name)
{
    char rel[TEMPLATE_MAX_NAME + 32];
    snprintf(rel, sizeof(rel), "templates/%s.html", name);
    const char *path = config_path(rel);
    const char *found = NULL;

    pthread_mutex_lock(&cache_lock);
    for (struct cache_entry *e = cache_head; e && !found; e = e->next)
        if (strcmp(e->path, path) == 0)
            found = e->src;
    if (!found) {
        /* Read under the lock: each file is read once, and only at warm-up. */
        char *src = file_read(path);
        struct cache_entry *e = src ? malloc(sizeof(*e)) : NULL;
        char *key = e ? strdup(path) : NULL;
        if (key) {
            e->path = key;
            e->src = src;
            e->next = cache_head;
            cache_head = e;
            found = src;
            if (!cache_cleanup_registered) {
                atexit(file_cache_cleanup);
                cache_cleanup_registered = true;
            }
        } else {
            free(e);
            free(src);
        }
    }
    pthread_mutex_unlock(&cache_lock);
    return found;
}

static const char *file_loader(void *ud, struct arena *a, const char *name)
{
    (void)ud;
    (void)a;
    return template_name_ok(name) ? file_cache_get(name) : NULL;
}

char *template_render_file(struct arena *a, const char *name, json_t *ctx, const char **err)
{
    if (!template_name_ok(name)) {
        if (err)
            *err = "invalid template name";
        return NULL;
    }
    const char *src = file_cache_get(name);
    if (!src) {
        if (err)
            *err = arena_printf(a, "template '%s' not found", name);
        return NULL;
    }
    return template_render(a, src, ctx, file_loader, NULL, err);
}

/* The layout sees the caller's ctx with a context {"content": page} pushed on
 * top, so {{{content}}} is the page. The caller's ctx is not modified. */
char *template_render_page(struct arena *a, const char *name, json_t *ctx, const char **err)
{
    char *page = template_render_file(a, name, ctx, err);
    if (!page)
        return NULL;
    const char *layout = file_cache_get("layout");
    if (!layout) {
        if (err)
            *err = "template 'layout' not found";
        return NULL;
    }
    /* nocheck: page bytes come from template files and need not be UTF-8;
     * the object never leaves this function. */
    json_t *top = json_object();
    if (!top || json_object_set_new(top, "content", json_stringn_nocheck(page, strlen(page)))) {
        json_decref(top);
        if (err)
            *err = "out of memory";
        return NULL;
    }
    json_t *stack[2] = {ctx, top};
    char *out = render_run(a, layout, stack, 2, file_loader, NULL, err);
    json_decref(top); /* out is a copy in the arena */
    return out;
}
