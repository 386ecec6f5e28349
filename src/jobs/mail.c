/*
 * mail.c — the outbox and the send_mail job.
 *
 * mail_queue() writes the message to `outbox` and queues a send_mail job
 * on the caller's connection, so both commit (or vanish) with the caller's
 * transaction: no mail for a booking that rolled back, and none lost when
 * SMTP is down. The job formats the row as an RFC 5322 / MIME message and
 * hands it to smtp_send(); a failure returns -1 and the job queue retries
 * with backoff.
 *
 * Never twice: the job holds the outbox row FOR UPDATE from the check of
 * sent_at until sent_at is committed, so two runs for one row (a duplicate
 * job, a reaped run) cannot both send. Only a crash between the SMTP reply
 * and that commit can repeat a message.
 *
 * Header values come from users (names, subjects): every control character,
 * CR and LF above all, becomes a space before it reaches a header line, and
 * non-ASCII text goes out as RFC 2047 encoded-words. Bodies are
 * quoted-printable (any line length, any bytes); attachments base64.
 */
#include "studiod/mail.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "studiod/arena.h"
#include "studiod/config.h"
#include "studiod/crypto.h"
#include "studiod/db.h"
#include "studiod/jobs.h"
#include "studiod/log.h"
#include "studiod/smtp.h"

#define MAIL_MESSAGE_ID_DOMAIN "studiod"
#define MAIL_LINE_MAX 78        /* RFC 5322 2.1.1: lines SHOULD stay within 78 characters */
#define MAIL_QP_LINE_MAX 76     /* RFC 2045 6.7 (5), counting the soft-break '=' */
#define MAIL_BASE64_LINE_MAX 76 /* RFC 2045 6.8 */
#define MAIL_WORD_BYTES 42      /* UTF-8 bytes per encoded-word: 56 base64 chars, 68 in all */
#define MAIL_SEND_ATTEMPTS 20
#define MAIL_JOB_KIND "send_mail"

static bool mail_address_ok(const char *addr);
static char *mail_clean(struct arena *a, const char *s);
static bool mail_plain_ascii(const char *s);
static void mail_put_base64(struct buf *b, const unsigned char *s, size_t n, size_t line_max);
static void mail_put_words(struct buf *b, const char *s);
static void mail_put_text_header(struct buf *b, struct arena *a, const char *name,
                                 const char *value);
static void mail_put_address_header(struct buf *b, struct arena *a, const char *name,
                                    const char *value);
static void mail_put_date(struct buf *b, time_t t);
static void mail_put_qp(struct buf *b, const char *s);
static void mail_put_text_part(struct buf *b, const char *subtype, const char *body);
static void mail_put_body(struct buf *b, struct arena *a, const struct mail *m);
static void mail_put_attachment(struct buf *b, struct arena *a, const struct mail *m);
static int mail_deliver(struct db_conn *c, struct arena *a, const char *id, char *err,
                        size_t errlen);
static int mail_run_send(json_t *payload, char *err, size_t errlen);

const struct job_kind mail_job_kinds[] = {
    {MAIL_JOB_KIND, mail_run_send, MAIL_SEND_ATTEMPTS},
    {0},
};

/* One address line: something with an '@' and no control characters. */
static bool mail_address_ok(const char *addr)
{
    if (!addr || !strchr(addr, '@'))
        return false;
    for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* The messages ($1: a JSON array of objects named like the columns, each with its
 * position n) and the jobs that send them, in one statement (atomic without a transaction
 * of the caller's, and one round trip). $2: the jobs' max_attempts. */
static const char sql_outbox_insert[] =
    "WITH x AS (\n"
    "  SELECT * FROM json_to_recordset($1::json) AS x(n int, to_addr text, subject text,\n"
    "         body_text text, body_html text, attachment_name text, attachment_type text,\n"
    "         attachment_content text)),\n"
    "o AS (\n"
    "  INSERT INTO outbox (to_addr, subject, body_text, body_html,\n"
    "                      attachment_name, attachment_type, attachment_content)\n"
    "  SELECT to_addr, subject, body_text, body_html, attachment_name, attachment_type,\n"
    "         attachment_content FROM x ORDER BY n\n"
    "  RETURNING id)\n"
    "INSERT INTO jobs (kind, payload, run_at, max_attempts)\n"
    "SELECT '" MAIL_JOB_KIND "', jsonb_build_object('outbox_id', o.id), now(), $2::int FROM o";

int mail_queue(struct db_conn *master, const struct mail *m)
{
    return mail_queue_many(master, &m, 1);
}

int mail_queue_many(struct db_conn *master, const struct mail *const *mails, int n)
{
    json_t *rows = json_array();
    for (int i = 0; i < n; i++) {
        const struct mail *m = mails[i];
        if (!m || !mail_address_ok(m->to)) {
            log_msg(LOG_WARN, "mail_queue: refused a mail without one plain recipient address");
            json_decref(rows);
            return -1;
        }
        bool att = m->attachment_content != NULL;
        json_t *row = json_pack(
            "{s:i, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?}", "n", i, "to_addr", m->to, "subject",
            m->subject ? m->subject : "", "body_text", m->text ? m->text : "", "body_html", m->html,
            "attachment_name", att ? m->attachment_name : NULL, "attachment_type",
            att ? m->attachment_type : NULL, "attachment_content", m->attachment_content);
        if (!row || json_array_append_new(rows, row) != 0) {
            log_msg(LOG_ERROR, "mail_queue: a mail that is not UTF-8 text");
            json_decref(rows);
            return -1;
        }
    }
    char *text = master ? json_dumps(rows, JSON_COMPACT) : NULL;
    json_decref(rows);
    char attempts[16];
    snprintf(attempts, sizeof(attempts), "%d", MAIL_SEND_ATTEMPTS);
    const char *params[] = {text, attempts};
    int rc = text ? db_run(master, sql_outbox_insert, 2, params) : -1;
    free(text);
    return rc;
}

/* ---- formatting ------------------------------------------------------------------- */

/* A copy of s with every control character (CR and LF among them) made a space:
 * what keeps a header value on its one line. */
static char *mail_clean(struct arena *a, const char *s)
{
    char *out = arena_strdup(a, s ? s : "");
    for (unsigned char *p = (unsigned char *)out; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return out;
}

/* Printable ASCII that no reader could take for an encoded-word. */
static bool mail_plain_ascii(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            return false;
    return !strstr(s, "=?");
}

/* Base64 of s; with line_max, CRLF after every line_max characters and at the end. */
static void mail_put_base64(struct buf *b, const unsigned char *s, size_t n, size_t line_max)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t col = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned long v = (unsigned long)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned long)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        char q[4] = {tbl[(v >> 18) & 63], tbl[(v >> 12) & 63], i + 1 < n ? tbl[(v >> 6) & 63] : '=',
                     i + 2 < n ? tbl[v & 63] : '='};
        buf_append(b, q, 4);
        col += 4;
        if (line_max && col >= line_max) {
            buf_puts(b, "\r\n");
            col = 0;
        }
    }
    if (line_max && col)
        buf_puts(b, "\r\n");
}

/* s as RFC 2047 B encoded-words, folded one per line; a word never splits a UTF-8
 * character (each must decode on its own). */
static void mail_put_words(struct buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
    bool first = true;
    do {
        size_t n = (size_t)(end - p) < MAIL_WORD_BYTES ? (size_t)(end - p) : MAIL_WORD_BYTES;
        /* Back off to a character start unless that leaves nothing (invalid UTF-8). */
        size_t cut = n;
        while (cut > 0 && p + cut < end && (p[cut] & 0xC0) == 0x80)
            cut--;
        if (cut > 0)
            n = cut;
        buf_puts(b, first ? "=?UTF-8?B?" : "\r\n =?UTF-8?B?");
        mail_put_base64(b, p, n, 0);
        buf_puts(b, "?=");
        p += n;
        first = false;
    } while (p < end);
}

/* "Name: value\r\n", the value cleaned and encoded when it is not short plain ASCII. */
static void mail_put_text_header(struct buf *b, struct arena *a, const char *name,
                                 const char *value)
{
    char *v = mail_clean(a, value);
    buf_printf(b, "%s: ", name);
    if (mail_plain_ascii(v) && strlen(name) + 2 + strlen(v) <= MAIL_LINE_MAX)
        buf_puts(b, v);
    else
        mail_put_words(b, v);
    buf_puts(b, "\r\n");
}

/* An address header from "addr" or "Display Name <addr>": the name is quoted or
 * encoded as it needs, the address kept as is (cleaned). */
static void mail_put_address_header(struct buf *b, struct arena *a, const char *name,
                                    const char *value)
{
    char *v = mail_clean(a, value);
    char *lt = strrchr(v, '<');
    buf_printf(b, "%s: ", name);
    if (!lt) {
        buf_puts(b, v);
        buf_puts(b, "\r\n");
        return;
    }
    char *addr = lt;
    char *dn = v, *dn_end = lt;
    while (*dn == ' ')
        dn++;
    while (dn_end > dn && dn_end[-1] == ' ')
        dn_end--;
    *dn_end = '\0';
    if (*dn) {
        size_t len = strlen(dn);
        bool quoted = len >= 2 && dn[0] == '"' && dn[len - 1] == '"';
        if (!mail_plain_ascii(dn)) {
            mail_put_words(b, dn);
        } else if (quoted || !dn[strcspn(dn, "()<>[]:;@\\,.\"")]) {
            buf_puts(b, dn);
        } else {
            buf_puts(b, "\"");
            for (const char *p = dn; *p; p++) {
                if (*p == '"' || *p == '\\')
                    buf_puts(b, "\\");
                buf_append(b, p, 1);
            }
            buf_puts(b, "\"");
        }
        buf_puts(b, " ");
    }
    buf_puts(b, addr);
    buf_puts(b, "\r\n");
}

/* RFC 5322 3.3 date in UTC, without the locale's day and month names. */
static void mail_put_date(struct buf *b, time_t t)
{
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    buf_printf(b, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday], tm.tm_mday,
               months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Quoted-printable (RFC 2045 6.7) of s: \n or \r\n become CRLF line breaks, lines are
 * soft-broken within 76 characters, and a space or tab before a line end is encoded. */
static void mail_put_qp(struct buf *b, const char *s)
{
    size_t col = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n' || (*p == '\r' && p[1] == '\n')) {
            if (*p == '\r')
                p++;
            buf_puts(b, "\r\n");
            col = 0;
            continue;
        }
        bool at_eol = !p[1] || p[1] == '\n' || (p[1] == '\r' && p[2] == '\n');
        char tok[4];
        size_t tn;
        if ((*p >= 33 && *p <= 126 && *p != '=') || ((*p == ' ' || *p == '\t') && !at_eol)) {
            tok[0] = (char)*p;
            tn = 1;
        } else {
            snprintf(tok, sizeof(tok), "=%02X", *p);
            tn = 3;
        }
        if (col + tn > MAIL_QP_LINE_MAX - 1) {
            buf_puts(b, "=\r\n");
            col = 0;
        }
        buf_append(b, tok, tn);
        col += tn;
    }
    if (col)
        buf_puts(b, "\r\n");
}

static void mail_put_text_part(struct buf *b, const char *subtype, const char *body)
{
    buf_printf(b,
               "Content-Type: text/%s; charset=utf-8\r\n"
               "Content-Transfer-Encoding: quoted-printable\r\n"
               "\r\n",
               subtype);
    mail_put_qp(b, body ? body : "");
}

/* The readable part: text/plain alone, or multipart/alternative with the HTML. */
static void mail_put_body(struct buf *b, struct arena *a, const struct mail *m)
{
    if (!m->html) {
        mail_put_text_part(b, "plain", m->text);
        return;
    }
    /* "=_" never occurs in quoted-printable or base64 output, so no part can
     * contain the boundary. */
    const char *alt = arena_printf(a, "=_studiod_alt_%s", crypto_token(a, 12));
    buf_printf(b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", alt);
    buf_printf(b, "--%s\r\n", alt);
    mail_put_text_part(b, "plain", m->text);
    buf_printf(b, "\r\n--%s\r\n", alt);
    mail_put_text_part(b, "html", m->html);
    buf_printf(b, "\r\n--%s--\r\n", alt);
}

/* The attachment part; a non-ASCII file name goes as RFC 2231 filename*. */
static void mail_put_attachment(struct buf *b, struct arena *a, const struct mail *m)
{
    const char *type = mail_clean(a, m->attachment_type);
    if (!strchr(type, '/'))
        type = "application/octet-stream";
    const char *name = mail_clean(a, m->attachment_name && *m->attachment_name ? m->attachment_name
                                                                               : "attachment");
    buf_printf(b, "Content-Type: %s\r\nContent-Disposition: attachment; ", type);
    if (mail_plain_ascii(name)) {
        buf_puts(b, "filename=\"");
        for (const char *p = name; *p; p++) {
            if (*p == '"' || *p == '\\')
                buf_puts(b, "\\");
            buf_append(b, p, 1);
        }
        buf_puts(b, "\"");
    } else {
        buf_puts(b, "filename*=UTF-8''");
        for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
            if ((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                strchr("!#$&+-.^_`|~", *p))
                buf_append(b, (const char *)p, 1);
            else
                buf_printf(b, "%%%02X", *p);
        }
    }
    buf_puts(b, "\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    mail_put_base64(b, (const unsigned char *)m->attachment_content, strlen(m->attachment_content),
                    MAIL_BASE64_LINE_MAX);
}

char *mail_format(struct arena *a, const struct mail *m, const char *from,
                  const char *message_id_domain)
{
    if (!m || !m->to || !*m->to)
        return NULL;
    struct buf b;
    buf_init(&b, a);
    const char *domain = mail_clean(
        a, message_id_domain && *message_id_domain ? message_id_domain : MAIL_MESSAGE_ID_DOMAIN);
    for (char *p = (char *)domain; *p; p++)
        if (*p == ' ' || *p == '<' || *p == '>')
            *p = '-';

    mail_put_address_header(&b, a, "From", from ? from : "");
    mail_put_address_header(&b, a, "To", m->to);
    mail_put_text_header(&b, a, "Subject", m->subject);
    mail_put_date(&b, time(NULL));
    buf_printf(&b, "Message-ID: <%s@%s>\r\n", crypto_token(a, 18), domain);
    buf_puts(&b, "MIME-Version: 1.0\r\n");
    buf_puts(&b, "Auto-Submitted: auto-generated\r\n");

    if (!m->attachment_content) {
        mail_put_body(&b, a, m);
    } else {
        const char *mixed = arena_printf(a, "=_studiod_mix_%s", crypto_token(a, 12));
        buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", mixed);
        buf_printf(&b, "--%s\r\n", mixed);
        mail_put_body(&b, a, m);
        buf_printf(&b, "\r\n--%s\r\n", mixed);
        mail_put_attachment(&b, a, m);
        buf_printf(&b, "\r\n--%s--\r\n", mixed);
    }
    return (char *)buf_cstr(&b);
}

/* ---- the send_mail job ------------------------------------------------------------ */

/* FOR UPDATE: held until sent_at commits, so a second run waits and then sees it. */
static const char sql_outbox_load[] =
    "SELECT to_addr, subject, body_text, body_html,\n"
    "       attachment_name, attachment_type, attachment_content, sent_at\n"
    "  FROM outbox\n"
    " WHERE id = $1\n"
    "   FOR UPDATE";

static const char sql_outbox_sent[] =
    "UPDATE outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL\n"
    " WHERE id = $1";

static const char sql_outbox_failed[] =
    "UPDATE outbox SET attempts = attempts + 1, last_error = $2\n"
    " WHERE id = $1";

/* Sends outbox row id unless it was sent already. 0 (sent, or nothing to send) or -1. */
static int mail_deliver(struct db_conn *c, struct arena *a, const char *id, char *err,
                        size_t errlen)
{
    const char *params[] = {id, err};
    if (db_begin(c) != 0) {
        snprintf(err, errlen, "database unavailable");
        return -1;
    }
    PGresult *res = db_exec(c, sql_outbox_load, 1, params, NULL);
    if (!res) {
        db_rollback(c);
        snprintf(err, errlen, "cannot load outbox row %s", id);
        return -1;
    }
    if (PQntuples(res) == 0 || db_get(res, 0, "sent_at")) {
        log_json(LOG_INFO, json_pack("{s:s, s:s}", "msg",
                                     PQntuples(res) ? "mail already sent" : "outbox row is gone",
                                     "outbox_id", id));
        PQclear(res);
        db_rollback(c);
        return 0;
    }
    struct mail m = {
        .to = db_get_dup(a, res, 0, "to_addr"),
        .subject = db_get_dup(a, res, 0, "subject"),
        .text = db_get_dup(a, res, 0, "body_text"),
        .html = db_get_dup(a, res, 0, "body_html"),
        .attachment_name = db_get_dup(a, res, 0, "attachment_name"),
        .attachment_type = db_get_dup(a, res, 0, "attachment_type"),
        .attachment_content = db_get_dup(a, res, 0, "attachment_content"),
    };
    PQclear(res);

    int rc = -1;
    char *msg = mail_format(a, &m, g_config.mail_from, MAIL_MESSAGE_ID_DOMAIN);
    if (!msg)
        snprintf(err, errlen, "outbox row %s has no recipient", id);
    else
        rc = smtp_send(g_config.smtp_url, g_config.mail_from, m.to, msg, err, errlen);

    int recorded =
        rc == 0 ? db_run(c, sql_outbox_sent, 1, params) : db_run(c, sql_outbox_failed, 2, params);
    if (recorded != 0 || db_commit(c) != 0) {
        db_rollback(c);
        /* Sent but not marked: report success anyway, since a retry would send it again. */
        if (rc == 0)
            log_json(LOG_ERROR, json_pack("{s:s, s:s}", "msg", "mail sent but sent_at not recorded",
                                          "outbox_id", id));
    }
    if (rc == 0)
        log_json(LOG_INFO, json_pack("{s:s, s:s}", "msg", "mail sent", "outbox_id", id));
    return rc;
}

static int mail_run_send(json_t *payload, char *err, size_t errlen)
{
    json_t *idv = json_object_get(payload, "outbox_id");
    if (!json_is_integer(idv)) {
        snprintf(err, errlen, "send_mail payload has no integer outbox_id");
        return -1;
    }
    char id[32];
    snprintf(id, sizeof(id), "%" JSON_INTEGER_FORMAT, json_integer_value(idv));
    struct db_conn *c = db_acquire_master();
    if (!c) {
        snprintf(err, errlen, "no database connection");
        return -1;
    }
    struct arena *a = arena_new(8192);
    int rc = mail_deliver(c, a, id, err, errlen);
    db_release(c);
    arena_free(a);
    return rc;
}
