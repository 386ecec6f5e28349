/*
 * notify.c — what a customer receives: the "booking made", "confirmed" and
 * "cancelled" e-mails, each with the booking as an iCalendar (.ics)
 * attachment, and the mail of manage links a booking search sends.
 *
 * Mail goes through the outbox (mail_queue, on the master connection), so
 * it leaves only once the caller's master transaction commits and SMTP
 * trouble loses nothing. Callers queue a booking's mail after its tenant
 * transaction has committed: a mail never announces a booking that rolled
 * back.
 *
 * The .ics is METHOD:PUBLISH (no ORGANIZER/ATTENDEE handshake: the customer
 * only imports it); its UID is <ref>@<studio host> for every mail of one
 * booking and SEQUENCE grows with each state (made 0, confirmed 1,
 * cancelled 2), so a calendar updates the one event instead of adding
 * another. Times are UTC ("YYYYMMDDTHHMMSSZ"), lines end in CRLF and are
 * folded at 75 octets without splitting a UTF-8 character (RFC 5545 3.1).
 *
 * The manage link carries the raw manage token, which exists only at the
 * moment it is minted (the database keeps its SHA-256): the "booking made"
 * mail gets it from booking_create; later mails say how to find it (the
 * first mail, or a booking search).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "booking_internal.h"
#include "studiod/config.h"
#include "studiod/mail.h"
#include "studiod/money.h"
#include "studiod/tenant.h"

#define ICS_LINE_OCTETS 75

static void ics_line(struct buf *b, const char *line);
static void ics_prop(struct buf *b, struct arena *a, const char *name, const char *value);
static char *ics_text(struct arena *a, const char *s);
static const char *studio_host(struct arena *a, const struct tenant *tn);
static const char *when_text(struct arena *a, const struct tenant *tn, const struct booking_row *b);
static const char *status_text(struct arena *a, const struct booking_row *b);

static const char *studio_host(struct arena *a, const struct tenant *tn)
{
    return arena_printf(a, "%s.%s", tn->slug, g_config.base_domain);
}

char *booking_studio_url(struct arena *a, const struct tenant *tn)
{
    /* As http_studio_url, assuming TLS exactly when the public scheme is https. */
    bool https = strcmp(g_config.public_scheme, "https") == 0;
    if (https || g_config.port == 80)
        return arena_printf(a, "%s://%s", g_config.public_scheme, studio_host(a, tn));
    return arena_printf(a, "%s://%s:%d", g_config.public_scheme, studio_host(a, tn), g_config.port);
}

char *booking_manage_link(struct arena *a, const char *studio_url, const char *ref,
                          const char *token)
{
    /* ref is [2-9A-Z], token URL-safe base64: neither needs escaping. */
    return arena_printf(a, "%s/book/%s?token=%s", studio_url, ref, token);
}

/* Appends one content line, folded: at most 75 octets a line, continuation lines start
 * with a space, and a UTF-8 sequence is never cut. */
static void ics_line(struct buf *b, const char *line)
{
    size_t n = strlen(line), pos = 0;
    bool first = true;
    while (pos < n) {
        size_t room = first ? ICS_LINE_OCTETS : ICS_LINE_OCTETS - 1;
        size_t take = n - pos < room ? n - pos : room;
        while (take > 0 && pos + take < n && ((unsigned char)line[pos + take] & 0xC0) == 0x80)
            take--; /* back off to the start of a character */
        if (!first)
            buf_puts(b, " ");
        buf_append(b, line + pos, take);
        buf_puts(b, "\r\n");
        pos += take;
        first = false;
    }
    if (n == 0)
        buf_puts(b, "\r\n");
}

/* TEXT value escaping (RFC 5545 3.3.11): backslash, ';', ',' and newlines. */
static char *ics_text(struct arena *a, const char *s)
{
    struct buf o;
    buf_init(&o, a);
    for (const char *p = s ? s : ""; *p; p++) {
        if (*p == '\\' || *p == ';' || *p == ',') {
            char esc[2] = {'\\', *p};
            buf_append(&o, esc, 2);
        } else if (*p == '\n') {
            buf_puts(&o, "\\n");
        } else if (*p == '\r' || ((unsigned char)*p < 0x20 && *p != '\t')) {
            continue;
        } else {
            buf_append(&o, p, 1);
        }
    }
    return (char *)buf_cstr(&o);
}

static void ics_prop(struct buf *b, struct arena *a, const char *name, const char *value)
{
    ics_line(b, arena_printf(a, "%s:%s", name, value));
}

char *booking_ics(struct arena *a, const struct tenant *tn, const struct booking_row *b,
                  const char *link)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    bool cancelled = strcmp(b->status, "cancelled") == 0 || strcmp(b->status, "expired") == 0;
    bool confirmed = strcmp(b->status, "confirmed") == 0 || strcmp(b->status, "completed") == 0;
    const char *status = cancelled ? "CANCELLED" : confirmed ? "CONFIRMED" : "TENTATIVE";
    int sequence = cancelled ? 2 : confirmed ? 1 : 0;

    struct buf o;
    buf_init(&o, a);
    ics_line(&o, "BEGIN:VCALENDAR");
    ics_line(&o, "VERSION:2.0");
    ics_line(&o, "PRODID:-//studiod//booking//EN");
    ics_line(&o, "CALSCALE:GREGORIAN");
    ics_line(&o, "METHOD:PUBLISH");
    ics_line(&o, "BEGIN:VEVENT");
    ics_prop(&o, a, "UID", arena_printf(a, "%s@%s", b->ref, studio_host(a, tn)));
    ics_prop(&o, a, "DTSTAMP", stamp);
    ics_prop(&o, a, "DTSTART", b->ics_start);
    ics_prop(&o, a, "DTEND", b->ics_end);
    ics_prop(&o, a, "SEQUENCE", arena_printf(a, "%d", sequence));
    ics_prop(&o, a, "STATUS", status);
    ics_prop(&o, a, "SUMMARY",
             ics_text(a, arena_printf(a, "%s \xE2\x80\x94 %s", b->room_name, tn->name)));
    ics_prop(&o, a, "LOCATION", ics_text(a, tn->name));
    const char *desc = arena_printf(a, "Booking %s: %s at %s.%s%s", b->ref, b->room_name, tn->name,
                                    link ? "\nManage it: " : "", link ? link : "");
    ics_prop(&o, a, "DESCRIPTION", ics_text(a, desc));
    if (link)
        ics_prop(&o, a, "URL", link);
    ics_line(&o, "END:VEVENT");
    ics_line(&o, "END:VCALENDAR");
    return (char *)buf_cstr(&o);
}

static const char *when_text(struct arena *a, const struct tenant *tn, const struct booking_row *b)
{
    return arena_printf(a, "%s, %s\xE2\x80\x93%s (%s time)", b->local_day, b->local_start,
                        b->local_end, tn->timezone);
}

static const char *status_text(struct arena *a, const struct booking_row *b)
{
    if (strcmp(b->status, "confirmed") == 0)
        return "confirmed";
    if (strcmp(b->status, "pending") == 0 && b->hold_expires_local)
        return arena_printf(a,
                            "pending: the room is held for you until %s; it is confirmed once\r\n"
                            "             the deposit of %s is paid",
                            b->hold_expires_local, money_format(a, b->deposit, b->currency));
    if (strcmp(b->status, "pending") == 0)
        return "pending: the studio will confirm it shortly";
    return b->status;
}

int booking_mail(struct arena *a, struct db_conn *m, const struct tenant *tn,
                 const struct booking_row *b, enum booking_mail_kind kind, const char *link)
{
    struct mail mail;
    booking_mail_build(a, tn, b, kind, link, &mail);
    return mail_queue(m, &mail);
}

void booking_mail_build(struct arena *a, const struct tenant *tn, const struct booking_row *b,
                        enum booking_mail_kind kind, const char *link, struct mail *out)
{
    struct buf text;
    buf_init(&text, a);
    const char *subject;
    buf_printf(&text, "Hello %s,\r\n\r\n", b->customer_name);
    switch (kind) {
    case BOOKING_MAIL_MADE:
        subject = arena_printf(a, "Your booking %s at %s: %s, %s %s", b->ref, tn->name,
                               b->room_name, b->local_day, b->local_start);
        buf_printf(&text, "Thank you for booking at %s.\r\n\r\n", tn->name);
        break;
    case BOOKING_MAIL_CONFIRMED:
        subject = arena_printf(a, "Confirmed: your booking %s at %s", b->ref, tn->name);
        buf_printf(&text, "%s has confirmed your booking.\r\n\r\n", tn->name);
        break;
    case BOOKING_MAIL_CANCELLED:
    default:
        subject = arena_printf(a, "Cancelled: your booking %s at %s", b->ref, tn->name);
        buf_printf(&text, "Your booking at %s is cancelled.\r\n\r\n", tn->name);
        break;
    }
    buf_printf(&text, "  Reference: %s\r\n  Room:      %s\r\n  When:      %s\r\n", b->ref,
               b->room_name, when_text(a, tn, b));
    buf_printf(&text, "  Price:     %s\r\n", money_format(a, b->price, b->currency));
    if (kind == BOOKING_MAIL_CANCELLED) {
        int64_t refund = b->has_refund ? b->refund : 0;
        buf_printf(&text, "  Refund:    %s (%s)\r\n", money_format(a, refund, b->currency),
                   b->refund_rule ? b->refund_rule : "no refund");
        if (b->paid == 0)
            buf_puts(&text, "\r\nNothing had been paid, so nothing is refunded.\r\n");
    } else {
        if (b->deposit > 0)
            buf_printf(&text, "  Deposit:   %s\r\n", money_format(a, b->deposit, b->currency));
        buf_printf(&text, "  Status:    %s\r\n", status_text(a, b));
    }
    if (link)
        buf_printf(&text,
                   "\r\nSee or cancel your booking here:\r\n\r\n  %s\r\n\r\n"
                   "Keep this link to yourself: whoever has it can cancel the booking.\r\n",
                   link);
    else if (kind != BOOKING_MAIL_CANCELLED)
        buf_printf(&text, "\r\nTo see or cancel it, use the link in the first e-mail about this\r\n"
                          "booking, or ask for a new one on the studio's booking page.\r\n");
    buf_puts(&text, "\r\nThe attached calendar file adds it to your calendar.\r\n");
    buf_printf(&text, "\r\n-- %s\r\n", tn->name);

    *out = (struct mail){
        .to = b->customer_email,
        .subject = subject,
        .text = buf_cstr(&text),
        .attachment_name = arena_printf(a, "booking-%s.ics", b->ref),
        .attachment_type = "text/calendar; method=PUBLISH; charset=UTF-8",
        .attachment_content = booking_ics(a, tn, b, link),
    };
}

int booking_mail_links(struct arena *a, struct db_conn *m, const struct tenant *tn, const char *to,
                       const struct booking_link *links, int n)
{
    struct buf text;
    buf_init(&text, a);
    buf_printf(
        &text,
        "Hello,\r\n\r\nSomeone (we hope you) asked for the bookings made with this e-mail\r\n"
        "address at %s. Here they are, each with its own link:\r\n\r\n",
        tn->name);
    for (int i = 0; i < n; i++)
        buf_printf(&text, "  %s  %s, %s, %s\xE2\x80\x93%s (%s)\r\n    %s\r\n\r\n", links[i].ref,
                   links[i].room_name, links[i].local_day, links[i].local_start, links[i].local_end,
                   links[i].status, links[i].link);
    buf_puts(&text, "These links replace any you received before: older links no longer\r\n"
                    "work. Keep them to yourself: whoever has one can cancel the booking.\r\n\r\n"
                    "If you did not ask for this, you can ignore this e-mail.\r\n");
    buf_printf(&text, "\r\n-- %s\r\n", tn->name);
    struct mail mail = {
        .to = to,
        .subject = arena_printf(a, "Your bookings at %s", tn->name),
        .text = buf_cstr(&text),
    };
    return mail_queue(m, &mail);
}
