/*
 * smtp.c — hands one finished RFC 5322 message to an SMTP server with
 * libcurl: MAIL FROM, one RCPT TO, then DATA streamed from memory.
 *
 * The envelope addresses are the bare addresses inside "Name <addr>" and
 * are refused when they hold anything that could end an SMTP command line
 * (CR, LF, angle brackets, spaces). TLS is opportunistic (CURLUSESSL_TRY):
 * STARTTLS when the server offers it, plain otherwise, as the local relay
 * and the test sink offer none. libcurl does the dot-stuffing of DATA.
 * curl_global_init() is main's job, done once before any thread starts.
 */
#include "studiod/smtp.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#define SMTP_CONNECT_TIMEOUT_SECONDS 5L
#define SMTP_TIMEOUT_SECONDS 20L
#define SMTP_ADDRESS_MAX 320 /* 64 local + @ + 255 domain */

/* The message being uploaded: libcurl pulls it through smtp_read. */
struct smtp_body {
    const char *data;
    size_t len, pos;
};

static size_t smtp_read(char *ptr, size_t size, size_t nmemb, void *userdata);
static int smtp_envelope_address(const char *s, char *out, size_t outlen);

static size_t smtp_read(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct smtp_body *b = userdata;
    size_t room = size * nmemb, left = b->len - b->pos;
    size_t n = left < room ? left : room;
    memcpy(ptr, b->data + b->pos, n);
    b->pos += n;
    return n;
}

/* "<addr>" from "Name <addr>" or a bare "addr", into out; -1 when there is no
 * usable address (missing '@', or a character that could break the command). */
static int smtp_envelope_address(const char *s, char *out, size_t outlen)
{
    if (!s)
        return -1;
    const char *start = s, *end = s + strlen(s);
    const char *lt = strrchr(s, '<');
    if (lt) {
        const char *gt = strchr(lt, '>');
        if (!gt)
            return -1;
        start = lt + 1;
        end = gt;
    }
    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t n = (size_t)(end - start);
    if (n == 0 || n > SMTP_ADDRESS_MAX || !memchr(start, '@', n))
        return -1;
    for (const char *p = start; p < end; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= ' ' || ch == 0x7f || ch == '<' || ch == '>')
            return -1;
    }
    int w = snprintf(out, outlen, "<%.*s>", (int)n, start);
    return w > 0 && (size_t)w < outlen ? 0 : -1;
}

int smtp_send(const char *url, const char *from, const char *to, const char *message, char *err,
              size_t errlen)
{
    char mail_from[SMTP_ADDRESS_MAX + 3], rcpt_to[SMTP_ADDRESS_MAX + 3];
    if (errlen)
        err[0] = '\0';
    if (!url || !*url || !message) {
        snprintf(err, errlen, "smtp: no server URL or no message");
        return -1;
    }
    if (smtp_envelope_address(from, mail_from, sizeof(mail_from)) != 0) {
        snprintf(err, errlen, "smtp: unusable sender address");
        return -1;
    }
    if (smtp_envelope_address(to, rcpt_to, sizeof(rcpt_to)) != 0) {
        snprintf(err, errlen, "smtp: unusable recipient address");
        return -1;
    }

    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(err, errlen, "smtp: curl_easy_init failed");
        return -1;
    }
    struct curl_slist *rcpts = curl_slist_append(NULL, rcpt_to);
    if (!rcpts) {
        curl_easy_cleanup(curl);
        snprintf(err, errlen, "smtp: out of memory");
        return -1;
    }
    struct smtp_body body = {.data = message, .len = strlen(message), .pos = 0};
    char curl_err[CURL_ERROR_SIZE] = "";

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, mail_from);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, smtp_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &body);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body.len);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, SMTP_CONNECT_TIMEOUT_SECONDS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, SMTP_TIMEOUT_SECONDS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);

    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
        const char *why = curl_err[0] ? curl_err : curl_easy_strerror(rc);
        if (code)
            snprintf(err, errlen, "smtp: %s (reply %ld)", why, code);
        else
            snprintf(err, errlen, "smtp: %s", why);
    }
    curl_slist_free_all(rcpts);
    curl_easy_cleanup(curl);
    return rc == CURLE_OK ? 0 : -1;
}
