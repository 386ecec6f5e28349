/*
 * smtp.h — sends one message over SMTP with libcurl (SMTP_URL).
 */
#ifndef STUDIOD_SMTP_H
#define STUDIOD_SMTP_H

#include <stddef.h>

/* Sends the RFC 5322 message (headers + body, CRLF line ends) from `from` to `to`.
 * 0, or -1 with err filled. Times out after a few seconds. */
int smtp_send(const char *url, const char *from, const char *to, const char *message,
              char *err, size_t errlen);

#endif
