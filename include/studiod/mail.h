/*
 * mail.h — the outbox: mail is written to the master database in the
 * caller's transaction and sent later by a job over SMTP, so a down SMTP
 * server loses nothing.
 */
#ifndef STUDIOD_MAIL_H
#define STUDIOD_MAIL_H

#include "studiod/jobs.h" /* struct job_kind, for mail_job_kinds[] */

struct arena;
struct db_conn;

struct mail {
    const char *to;
    const char *subject;
    const char *text;               /* text/plain body, UTF-8 */
    const char *html;               /* optional text/html alternative */
    const char *attachment_name;    /* optional, e.g. "booking.ics" */
    const char *attachment_type;    /* e.g. "text/calendar; method=REQUEST" */
    const char *attachment_content; /* the bytes (text) */
};

/* Queues m on c (the master database), with a send_mail job. 0 or -1 (also when m->to is
 * not one plain address line). */
int mail_queue(struct db_conn *master, const struct mail *m);
/* mail_queue for n mails in one statement: all queued (0) or none (-1). */
int mail_queue_many(struct db_conn *master, const struct mail *const *mails, int n);
/* The RFC 5322 message for m (CRLF line ends, MIME, UTF-8), in a: From from, a fresh
 * Message-ID <random@message_id_domain>. CR and LF in header values become spaces.
 * Needs crypto_init() (for the random ids). NULL when m has no recipient. */
char *mail_format(struct arena *a, const struct mail *m, const char *from,
                  const char *message_id_domain);
/* The job kinds this module runs: {"send_mail"}. */
extern const struct job_kind mail_job_kinds[];

#endif
