/*
 * stripe.c — talks to the Stripe API with libcurl and checks the signatures
 * on the webhooks it sends back.
 *
 * Requests carry Stripe's real wire format, so a stand-in at STRIPE_API_BASE
 * sees exactly what api.stripe.com would: a Bearer secret key, a pinned
 * Stripe-Version, form-encoded bodies whose keys hold Stripe's brackets
 * ("line_items[0][price_data][currency]"), an Idempotency-Key on every POST
 * (a POST without one is refused here, so a retried job can never charge
 * twice) and Stripe-Account when acting for a studio's connected account.
 * Timeouts are short; a failure is an error the caller (usually a job with
 * retries) decides about. Nothing here is shared between calls: one curl
 * easy handle per request, and g_config is read-only after start, so any
 * thread may call in. curl_global_init() is main's job.
 *
 * Webhook verification follows Stripe's scheme: HMAC-SHA256 keyed with the
 * endpoint secret (its bytes as-is, "whsec_" included) over "t.payload",
 * compared in constant time against every v1 signature in the header, with
 * the timestamp within a tolerance either way to stop replays.
 */
#include "studiod/stripe.h"

#include "studiod/arena.h"
#include "studiod/config.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define STRIPE_CONNECT_TIMEOUT_SECONDS 5L
#define STRIPE_TIMEOUT_SECONDS 15L
#define STRIPE_REPLY_MAX (4u << 20)    /* larger replies are cut off as an error */
#define STRIPE_SIGNATURE_BYTES 32      /* HMAC-SHA256 */
#define STRIPE_TIMESTAMP_DIGITS_MAX 12 /* seconds until the year 33658 */
#define STRIPE_USER_AGENT "studiod"

/* The reply body, collected into an arena buffer by stripe_write. */
struct stripe_reply {
    struct buf body;
    bool too_large;
};

static void stripe_set_error(struct stripe_error *err, long status, const char *type,
                             const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void stripe_copy(char *dst, size_t dstlen, const char *src);
static void stripe_parse_error(json_t *root, long status, struct stripe_error *err);
static bool stripe_header_safe(const char *s);
static bool stripe_path_safe(const char *path);
static void stripe_encode_into(struct buf *b, const char *s);
static size_t stripe_write(char *ptr, size_t size, size_t nmemb, void *userdata);
static bool stripe_item_is(const char *item, size_t len, const char *name, const char **value,
                           size_t *vlen);
static bool stripe_digits(const char *s, size_t len, long *out);

static void stripe_copy(char *dst, size_t dstlen, const char *src)
{
    snprintf(dst, dstlen, "%s", src ? src : "");
}

static void stripe_set_error(struct stripe_error *err, long status, const char *type,
                             const char *code, const char *fmt, ...)
{
    if (!err)
        return;
    memset(err, 0, sizeof(*err));
    err->http_status = status;
    stripe_copy(err->type, sizeof(err->type), type);
    stripe_copy(err->code, sizeof(err->code), code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

/* Stripe's {"error": {"type", "code", "message", "param"}} into err. A reply
 * without that shape still becomes an error carrying the status. */
static void stripe_parse_error(json_t *root, long status, struct stripe_error *err)
{
    json_t *e = json_object_get(root, "error");
    if (!json_is_object(e)) {
        stripe_set_error(err, status, "studiod_error", "invalid_response",
                         "stripe: HTTP %ld without an error object", status);
        return;
    }
    if (!err)
        return;
    memset(err, 0, sizeof(*err));
    err->http_status = status;
    stripe_copy(err->type, sizeof(err->type), json_string_value(json_object_get(e, "type")));
    stripe_copy(err->code, sizeof(err->code), json_string_value(json_object_get(e, "code")));
    stripe_copy(err->param, sizeof(err->param), json_string_value(json_object_get(e, "param")));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (msg)
        stripe_copy(err->message, sizeof(err->message), msg);
    else
        snprintf(err->message, sizeof(err->message), "stripe: HTTP %ld", status);
}

/* A header value must not end the header early: no control characters. */
static bool stripe_header_safe(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < ' ' || *p == 0x7f)
            return false;
    return true;
}

/* "/v1/..." with nothing that could change the request line or leave the host. */
static bool stripe_path_safe(const char *path)
{
    if (path[0] != '/' || path[1] == '/')
        return false;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || *p == '#')
            return false;
    return true;
}

/* application/x-www-form-urlencoded: ALPHA, DIGIT and "*-._" as they are,
 * space as '+', every other byte %XX (so '&', '=', '[', ']', '+' are escaped). */
static void stripe_encode_into(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '*' || c == '-' || c == '.' || c == '_') {
            buf_append(b, (const char *)p, 1);
        } else if (c == ' ') {
            buf_append(b, "+", 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            buf_append(b, esc, 3);
        }
    }
}

char *stripe_form_encode(struct arena *a, const struct stripe_param *params, size_t nparams)
{
    struct buf b;
    buf_init(&b, a);
    for (size_t i = 0; i < nparams; i++) {
        if (!params[i].key)
            continue;
        if (b.len)
            buf_append(&b, "&", 1);
        stripe_encode_into(&b, params[i].key);
        buf_append(&b, "=", 1);
        stripe_encode_into(&b, params[i].value ? params[i].value : "");
    }
    return (char *)buf_cstr(&b);
}

char *stripe_key(struct arena *a, const char *root, ...)
{
    struct buf b;
    buf_init(&b, a);
    buf_puts(&b, root);
    va_list ap;
    va_start(ap, root);
    for (const char *part = va_arg(ap, const char *); part; part = va_arg(ap, const char *))
        buf_printf(&b, "[%s]", part);
    va_end(ap);
    return (char *)buf_cstr(&b);
}

static size_t stripe_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct stripe_reply *r = userdata;
    size_t n = size * nmemb;
    if (r->body.len + n > STRIPE_REPLY_MAX) {
        r->too_large = true;
        return 0; /* makes curl_easy_perform fail with CURLE_WRITE_ERROR */
    }
    buf_append(&r->body, ptr, n);
    return n;
}

int stripe_request(struct arena *a, const char *method, const char *path,
                   const struct stripe_param *params, size_t nparams, const char *idempotency_key,
                   const char *stripe_account, json_t **out, struct stripe_error *err)
{
    if (out)
        *out = NULL;
    if (err)
        memset(err, 0, sizeof(*err));
    const char *secret = g_config.stripe_secret_key;
    if (!secret || !*secret) {
        stripe_set_error(err, 0, "studiod_error", "not_configured",
                         "stripe: STRIPE_SECRET_KEY is not set");
        return STRIPE_ERR_NOT_CONFIGURED;
    }
    const char *base = g_config.stripe_api_base;
    if (!a || !method || !path || !out || !base || !*base || !stripe_path_safe(path) ||
        !stripe_header_safe(secret)) {
        stripe_set_error(err, 0, "studiod_error", "invalid_argument",
                         "stripe: missing argument, or unusable path or configuration");
        return STRIPE_ERR_ARGUMENT;
    }
    bool is_post = strcmp(method, "POST") == 0;
    if (!is_post && strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0) {
        stripe_set_error(err, 0, "studiod_error", "invalid_argument",
                         "stripe: unsupported method %.16s", method);
        return STRIPE_ERR_ARGUMENT;
    }
    /* Every POST is idempotent by key, so a retry after a lost reply is safe. */
    if (is_post && (!idempotency_key || !*idempotency_key)) {
        stripe_set_error(err, 0, "studiod_error", "idempotency_key_required",
                         "stripe: POST %s without an Idempotency-Key", path);
        return STRIPE_ERR_ARGUMENT;
    }
    if ((idempotency_key && !stripe_header_safe(idempotency_key)) ||
        (stripe_account && !stripe_header_safe(stripe_account))) {
        stripe_set_error(err, 0, "studiod_error", "invalid_argument",
                         "stripe: control character in Idempotency-Key or Stripe-Account");
        return STRIPE_ERR_ARGUMENT;
    }

    size_t baselen = strlen(base);
    if (base[baselen - 1] == '/')
        baselen--;
    const char *form = stripe_form_encode(a, params, nparams);
    const char *url = (!is_post && *form)
                          ? arena_printf(a, "%.*s%s?%s", (int)baselen, base, path, form)
                          : arena_printf(a, "%.*s%s", (int)baselen, base, path);

    CURL *curl = curl_easy_init();
    if (!curl) {
        stripe_set_error(err, 0, "studiod_error", "out_of_memory", "stripe: curl_easy_init failed");
        return STRIPE_ERR_NETWORK;
    }
    /* curl_slist_append copies each string; the list has one release below. */
    struct curl_slist *headers = NULL, *h;
    const char *lines[] = {
        arena_printf(a, "Authorization: Bearer %s", secret),
        "Stripe-Version: " STRIPE_API_VERSION,
        "Accept: application/json",
        "Expect:", /* no 100-continue round trip on larger bodies */
        is_post ? "Content-Type: application/x-www-form-urlencoded" : NULL,
        idempotency_key ? arena_printf(a, "Idempotency-Key: %s", idempotency_key) : NULL,
        stripe_account ? arena_printf(a, "Stripe-Account: %s", stripe_account) : NULL,
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (!lines[i])
            continue;
        if (!(h = curl_slist_append(headers, lines[i]))) {
            curl_slist_free_all(headers);
            curl_easy_cleanup(curl);
            stripe_set_error(err, 0, "studiod_error", "out_of_memory", "stripe: out of memory");
            return STRIPE_ERR_NETWORK;
        }
        headers = h;
    }

    struct stripe_reply reply = {.too_large = false};
    buf_init(&reply.body, a);
    char curl_err[CURL_ERROR_SIZE] = "";

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, STRIPE_USER_AGENT);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, stripe_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, STRIPE_CONNECT_TIMEOUT_SECONDS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, STRIPE_TIMEOUT_SECONDS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    if (is_post) {
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(form));
    } else if (strcmp(method, "DELETE") == 0) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    }

    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);

    if (rc != CURLE_OK) {
        if (reply.too_large)
            stripe_set_error(err, status, "studiod_error", "invalid_response",
                             "stripe: %s %s: reply larger than %u bytes", method, path,
                             STRIPE_REPLY_MAX);
        else
            stripe_set_error(err, status, "studiod_error", "network_error", "stripe: %s %s: %s",
                             method, path, curl_err[0] ? curl_err : curl_easy_strerror(rc));
        return reply.too_large ? STRIPE_ERR_RESPONSE : STRIPE_ERR_NETWORK;
    }

    json_error_t jerr;
    json_t *root = json_loadb(reply.body.data ? reply.body.data : "", reply.body.len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        stripe_set_error(err, status, "studiod_error", "invalid_response",
                         "stripe: %s %s: HTTP %ld with a reply that is not a JSON object", method,
                         path, status);
        return status >= 200 && status < 300 ? STRIPE_ERR_RESPONSE : STRIPE_ERR_API;
    }
    if (status < 200 || status >= 300) {
        stripe_parse_error(root, status, err);
        json_decref(root);
        return STRIPE_ERR_API;
    }
    *out = root; /* the caller's reference now */
    return STRIPE_OK;
}

/* True when item (len bytes) is "name=value"; value and vlen point into it. */
static bool stripe_item_is(const char *item, size_t len, const char *name, const char **value,
                           size_t *vlen)
{
    size_t n = strlen(name);
    if (len <= n || memcmp(item, name, n) != 0 || item[n] != '=')
        return false;
    *value = item + n + 1;
    *vlen = len - n - 1;
    return true;
}

/* A plain decimal (no sign, no spaces) of at most STRIPE_TIMESTAMP_DIGITS_MAX digits. */
static bool stripe_digits(const char *s, size_t len, long *out)
{
    if (len == 0 || len > STRIPE_TIMESTAMP_DIGITS_MAX)
        return false;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Two passes over the header: the first validates every item and finds t
 * (which may come after the v1s), the second compares each v1 with the MAC.
 * Every v1 is compared, with no early exit, so timing says nothing about
 * which (if any) matched. */
int stripe_verify_signature(const char *payload, size_t len, const char *header, const char *secret,
                            long now, long tolerance_seconds)
{
    if (!secret || !*secret)
        return STRIPE_SIG_NO_SECRET;
    if (!header || !*header || (!payload && len) || tolerance_seconds < 0)
        return STRIPE_SIG_MALFORMED;

    const char *t_text = NULL, *value;
    size_t t_len = 0, vlen, nv1 = 0;
    long t = 0;
    unsigned char sig[STRIPE_SIGNATURE_BYTES];
    for (const char *item = header;;) {
        const char *comma = strchr(item, ',');
        size_t ilen = comma ? (size_t)(comma - item) : strlen(item);
        if (!memchr(item, '=', ilen))
            return STRIPE_SIG_MALFORMED;
        if (stripe_item_is(item, ilen, "t", &value, &vlen)) {
            if (t_text || !stripe_digits(value, vlen, &t))
                return STRIPE_SIG_MALFORMED;
            t_text = value;
            t_len = vlen;
        } else if (stripe_item_is(item, ilen, "v1", &value, &vlen)) {
            if (vlen != 2 * STRIPE_SIGNATURE_BYTES ||
                sodium_hex2bin(sig, sizeof(sig), value, vlen, NULL, NULL, NULL) != 0)
                return STRIPE_SIG_MALFORMED;
            nv1++;
        }
        if (!comma)
            break;
        item = comma + 1;
    }
    if (!t_text)
        return STRIPE_SIG_NO_TIMESTAMP;
    if (nv1 == 0)
        return STRIPE_SIG_NO_V1;
    /* t is at most 12 digits and now is checked non-negative: no overflow. */
    if (now < 0 || (t > now ? t - now : now - t) > tolerance_seconds)
        return STRIPE_SIG_STALE;

    unsigned char mac[STRIPE_SIGNATURE_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)t_text, t_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)(payload ? payload : ""), len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof(st));

    int matched = 0;
    for (const char *item = header;;) {
        const char *comma = strchr(item, ',');
        size_t ilen = comma ? (size_t)(comma - item) : strlen(item);
        if (stripe_item_is(item, ilen, "v1", &value, &vlen) &&
            sodium_hex2bin(sig, sizeof(sig), value, vlen, NULL, NULL, NULL) == 0)
            matched |= sodium_memcmp(sig, mac, sizeof(mac)) == 0;
        if (!comma)
            break;
        item = comma + 1;
    }
    sodium_memzero(mac, sizeof(mac));
    return matched ? STRIPE_SIG_OK : STRIPE_SIG_MISMATCH;
}

const char *stripe_signature_reason(int result)
{
    switch (result) {
    case STRIPE_SIG_OK:
        return "valid";
    case STRIPE_SIG_NO_SECRET:
        return "no webhook secret configured";
    case STRIPE_SIG_MALFORMED:
        return "malformed Stripe-Signature header";
    case STRIPE_SIG_NO_TIMESTAMP:
        return "Stripe-Signature without a timestamp";
    case STRIPE_SIG_NO_V1:
        return "Stripe-Signature without a v1 signature";
    case STRIPE_SIG_STALE:
        return "Stripe-Signature timestamp outside the tolerance";
    case STRIPE_SIG_MISMATCH:
        return "no Stripe-Signature v1 matches";
    default:
        return "unknown signature result";
    }
}
