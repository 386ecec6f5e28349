/*
 * test_mail_format.c — mail_format(): the headers every message carries,
 * CRLF line ends throughout, RFC 2047 subjects, the MIME structure for
 * HTML and attachments (the base64 attachment decodes back to its bytes),
 * and header injection through CR/LF in the subject or the recipient.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "studiod/arena.h"
#include "studiod/crypto.h"
#include "studiod/mail.h"

#define FROM "Studio Bookings <no-reply@studio.test>"

/* Each test's arena, in *state: made before the test, freed after it. */
static int arena_setup(void **state)
{
    *state = arena_new(0);
    return 0;
}

static int arena_teardown(void **state)
{
    arena_free(*state);
    return 0;
}

/* The header block (up to the first empty line), NUL-terminated in a. */
static char *headers_of(struct arena *a, const char *msg)
{
    const char *end = strstr(msg, "\r\n\r\n");
    assert_non_null(end);
    return arena_strndup(a, msg, (size_t)(end - msg) + 2);
}

/* Every \n is preceded by \r, and no \r stands alone. */
static void assert_crlf_only(const char *msg)
{
    for (const char *p = msg; *p; p++) {
        if (*p == '\n' && (p == msg || p[-1] != '\r'))
            fail_msg("bare LF at offset %td", p - msg);
        if (*p == '\r' && p[1] != '\n')
            fail_msg("bare CR at offset %td", p - msg);
    }
}

/* No line longer than max octets (CRLF excluded). */
static void assert_lines_within(const char *msg, size_t max)
{
    const char *line = msg;
    for (const char *p; (p = strstr(line, "\r\n")); line = p + 2)
        if ((size_t)(p - line) > max)
            fail_msg("line of %td octets: %.40s...", p - line, line);
}

/* Decodes one encoded-word =?UTF-8?B?...?= at s into out (NUL-terminated). */
static size_t decode_word(const char *s, char *out, size_t outlen)
{
    assert_true(strncmp(s, "=?UTF-8?B?", 10) == 0);
    const char *start = s + 10, *end = strstr(start, "?=");
    assert_non_null(end);
    size_t n = 0;
    assert_int_equal(sodium_base642bin((unsigned char *)out, outlen - 1, start,
                                       (size_t)(end - start), NULL, &n, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    out[n] = '\0';
    return n;
}

/* The encoded-word that continues a folded header after the one at p, or NULL. */
static const char *next_word(const char *p)
{
    const char *end = strstr(p, "?=") + 2;
    return strncmp(end, "\r\n =?", 5) == 0 ? end + 3 : NULL;
}

/* The boundary of h's "Content-Type: <multipart>; boundary=..." header, which must be there. */
static char *boundary_of(struct arena *a, const char *h, const char *multipart)
{
    const char *prefix = arena_printf(a, "Content-Type: %s; boundary=\"", multipart);
    const char *ct = strstr(h, prefix);
    assert_non_null(ct);
    const char *start = ct + strlen(prefix);
    return arena_strndup(a, start, strcspn(start, "\""));
}

/* Every string of parts (NULL-terminated) stands somewhere in text. */
static void assert_contains_all(const char *text, const char *const *parts)
{
    for (const char *const *p = parts; *p; p++)
        if (!strstr(text, *p))
            fail_msg("no \"%s\" in:\n%s", *p, text);
}

static void test_plain_text_mail_has_every_header_and_crlf_line_ends(void **state)
{
    struct arena *a = *state;
    struct mail m = {.to = "alice@example.test",
                     .subject = "Your booking is confirmed",
                     .text = "Hello Alice,\nsee you Tuesday.\n"};
    char *msg = mail_format(a, &m, FROM, "studiod");
    assert_non_null(msg);
    char *h = headers_of(a, msg);
    static const char *const header_lines[] = {
        "From: Studio Bookings <no-reply@studio.test>\r\n",
        "To: alice@example.test\r\n",
        "Subject: Your booking is confirmed\r\n",
        "MIME-Version: 1.0\r\n",
        "Content-Type: text/plain; charset=utf-8\r\n",
        "Content-Transfer-Encoding: quoted-printable\r\n",
        NULL,
    };
    assert_contains_all(h, header_lines);
    const char *mid = strstr(h, "Message-ID: <");
    assert_non_null(mid);
    const char *mid_end = strstr(mid, "@studiod>\r\n");
    assert_non_null(mid_end);
    assert_true(mid_end - mid > (ptrdiff_t)strlen("Message-ID: <") + 16); /* a real random part */

    /* Date: Tue, 01 Jul 2025 12:00:00 +0000 */
    const char *date = strstr(h, "\r\nDate: ");
    assert_non_null(date);
    char day[4], mon[4];
    int dd, yyyy, hh, mi, ss;
    assert_int_equal(
        sscanf(date + 8, "%3s, %2d %3s %4d %2d:%2d:%2d +0000", day, &dd, mon, &yyyy, &hh, &mi, &ss),
        7);
    assert_int_equal(day[3], '\0');
    assert_true(strstr("Sun,Mon,Tue,Wed,Thu,Fri,Sat,", day) != NULL);
    assert_true(strstr("JanFebMarAprMayJunJulAugSepOctNovDec", mon) != NULL);

    assert_non_null(strstr(msg, "\r\n\r\nHello Alice,\r\nsee you Tuesday.\r\n"));
    assert_crlf_only(msg);
    assert_lines_within(msg, 78);

    /* Two messages never share a Message-ID. */
    char *again = mail_format(a, &m, FROM, "studiod");
    assert_string_not_equal(strstr(again, "Message-ID:"), strstr(msg, "Message-ID:"));
}

static void test_non_ascii_subject_is_an_encoded_word(void **state)
{
    struct arena *a = *state;
    const char *subject = "Buchung bestätigt — Yoga über den Dächern";
    struct mail m = {.to = "jörg@example.test", .subject = subject, .text = "Grüße"};
    char *msg = mail_format(a, &m, "Studio Zürich <no-reply@studio.test>", "studiod");
    char *h = headers_of(a, msg);
    const char *subj = strstr(h, "\r\nSubject: =?UTF-8?B?");
    assert_non_null(subj);
    /* Decode every word of the folded header and put the subject back together. */
    char joined[512] = "", word[256];
    for (const char *p = subj + strlen("\r\nSubject: "); p; p = next_word(p)) {
        decode_word(p, word, sizeof(word));
        strcat(joined, word);
    }
    assert_string_equal(joined, subject);
    /* The display name is encoded too; the address is left alone. */
    assert_non_null(strstr(h, "From: =?UTF-8?B?"));
    assert_non_null(strstr(h, "?= <no-reply@studio.test>\r\n"));
    /* The body is quoted-printable UTF-8: ü is =C3=BC. */
    assert_non_null(strstr(msg, "Gr=C3=BC=C3=9Fe"));
    assert_crlf_only(msg);
    assert_lines_within(msg, 78);
}

static void test_long_subject_folds_without_splitting_characters(void **state)
{
    struct arena *a = *state;
    char subject[400] = "";
    for (int i = 0; i < 40; i++)
        strcat(subject, "é€"); /* 2- and 3-byte characters: any byte cut would show */
    struct mail m = {.to = "a@example.test", .subject = subject, .text = "x"};
    char *msg = mail_format(a, &m, FROM, "studiod");
    assert_lines_within(msg, 78);
    char joined[512] = "", word[256];
    for (const char *p = strstr(msg, "Subject: ") + strlen("Subject: "); p; p = next_word(p)) {
        size_t n = decode_word(p, word, sizeof(word));
        assert_true(n > 0);
        /* each word is whole characters: it starts on a character start */
        assert_true(((unsigned char)word[0] & 0xC0) != 0x80);
        strcat(joined, word);
    }
    assert_string_equal(joined, subject);
}

static void test_cr_lf_in_subject_and_recipient_cannot_add_headers(void **state)
{
    struct arena *a = *state;
    struct mail m = {.to = "alice@example.test\r\nBcc: victim@example.test",
                     .subject = "Hello\r\nBcc: everyone@example.test\nX-Evil: 1\r\n\r\nbody",
                     .text = "hi"};
    char *msg = mail_format(a, &m, FROM "\r\nReply-To: attacker@example.test", "studiod");
    char *h = headers_of(a, msg);
    assert_null(strstr(h, "\r\nBcc:"));
    assert_null(strstr(h, "\r\nX-Evil:"));
    assert_null(strstr(h, "\r\nReply-To:"));
    assert_null(strstr(msg, "\r\nbody"));
    assert_non_null(strstr(h, "Subject: Hello  Bcc: everyone@example.test X-Evil: 1    body\r\n"));
    assert_crlf_only(msg);
}

static void test_html_mail_is_multipart_alternative(void **state)
{
    struct arena *a = *state;
    struct mail m = {.to = "bob@example.test",
                     .subject = "Receipt",
                     .text = "Total: 30 EUR",
                     .html = "<p style=\"color:red\">Total: <b>30 EUR</b></p>"};
    char *msg = mail_format(a, &m, FROM, "studiod");
    char *h = headers_of(a, msg);
    char *boundary = boundary_of(a, h, "multipart/alternative");
    char *open = arena_printf(a, "--%s\r\n", boundary);
    char *close = arena_printf(a, "\r\n--%s--\r\n", boundary);
    const char *plain = strstr(msg, open);
    assert_non_null(plain);
    assert_non_null(strstr(plain, "Content-Type: text/plain; charset=utf-8\r\n"));
    const char *html = strstr(plain + strlen(open), open);
    assert_non_null(html);
    assert_non_null(strstr(html, "Content-Type: text/html; charset=utf-8\r\n"));
    /* '=' is =3D in quoted-printable */
    assert_non_null(strstr(html, "<p style=3D\"color:red\">Total: <b>30 EUR</b></p>"));
    assert_non_null(strstr(html, close));
    assert_crlf_only(msg);
}

static void test_attachment_is_base64_in_multipart_mixed_and_decodes_back(void **state)
{
    struct arena *a = *state;
    /* Long enough for several 76-character lines. */
    struct buf ics;
    buf_init(&ics, a);
    buf_puts(&ics, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\n");
    for (int i = 0; i < 20; i++)
        buf_printf(&ics, "X-LINE-%02d:Café à la carte — €%d\r\n", i, i * 7);
    buf_puts(&ics, "END:VCALENDAR\r\n");
    const char *content = buf_cstr(&ics);

    struct mail m = {.to = "carol@example.test",
                     .subject = "Your booking",
                     .text = "See the attached invitation.",
                     .html = "<p>See the attached invitation.</p>",
                     .attachment_name = "booking.ics",
                     .attachment_type = "text/calendar; method=REQUEST",
                     .attachment_content = content};
    char *msg = mail_format(a, &m, FROM, "studiod");
    char *h = headers_of(a, msg);
    char *boundary = boundary_of(a, h, "multipart/mixed");
    char *delim = arena_printf(a, "\r\n--%s\r\n", boundary);
    char *close = arena_printf(a, "\r\n--%s--\r\n", boundary);

    /* First part: the alternative text/html pair. */
    const char *first = strstr(msg, arena_printf(a, "--%s\r\n", boundary));
    assert_non_null(first);
    assert_non_null(strstr(first, "Content-Type: multipart/alternative;"));

    /* Second part: the attachment (the first delimiter opens the first part). */
    const char *att = strstr(first + 1, delim);
    assert_non_null(att);
    att += strlen(delim);
    assert_true(strncmp(att, "Content-Type: text/calendar; method=REQUEST\r\n", 45) == 0);
    assert_non_null(strstr(att, "Content-Disposition: attachment; filename=\"booking.ics\"\r\n"));
    assert_non_null(strstr(att, "Content-Transfer-Encoding: base64\r\n"));
    const char *body = strstr(att, "\r\n\r\n");
    assert_non_null(body);
    body += 4;
    const char *end = strstr(body, close);
    assert_non_null(end);

    /* Lines are 76 characters except the last. */
    const char *line = body;
    int full_lines = 0;
    for (const char *p; (p = strstr(line, "\r\n")) && p < end; line = p + 2) {
        if (p + 2 < end) {
            assert_int_equal(p - line, 76);
            full_lines++;
        } else {
            assert_true(p - line <= 76);
        }
    }
    assert_true(full_lines >= 3);

    size_t cap = strlen(content) + 16, n = 0;
    unsigned char *decoded = arena_alloc(a, cap);
    assert_int_equal(sodium_base642bin(decoded, cap, body, (size_t)(end - body), "\r\n", &n, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    assert_int_equal(n, strlen(content));
    assert_memory_equal(decoded, content, n);
    assert_crlf_only(msg);
    assert_lines_within(msg, 78);
}

static void test_non_ascii_attachment_name_uses_rfc2231(void **state)
{
    struct arena *a = *state;
    struct mail m = {.to = "d@example.test",
                     .subject = "x",
                     .text = "x",
                     .attachment_name = "Rechnung März.pdf\r\nX-Evil: 1",
                     .attachment_type = NULL,
                     .attachment_content = "%PDF-1.4"};
    char *msg = mail_format(a, &m, FROM, "studiod");
    assert_non_null(strstr(msg, "Content-Type: application/octet-stream\r\n"));
    assert_non_null(
        strstr(msg, "filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf%20%20X-Evil%3A%201\r\n"));
    assert_null(strstr(msg, "\r\nX-Evil"));
}

static void test_quoted_printable_breaks_long_lines_and_keeps_trailing_space(void **state)
{
    struct arena *a = *state;
    char text[400];
    memset(text, 'a', 290); /* 75 + 75 + 75 + 65: the last line has room for "=20" */
    strcpy(text + 290, " \nnext= \n");
    struct mail m = {.to = "e@example.test", .subject = "qp", .text = text};
    char *msg = mail_format(a, &m, FROM, "studiod");
    assert_lines_within(msg, 76);
    assert_non_null(strstr(msg, "=\r\n"));                  /* soft breaks */
    assert_non_null(strstr(msg, "a=20\r\nnext=3D=20\r\n")); /* trailing space, '=' */
    assert_crlf_only(msg);
}

static void test_no_recipient_gives_null(void **state)
{
    struct arena *a = *state;
    struct mail m = {.to = NULL, .subject = "x", .text = "x"};
    assert_null(mail_format(a, &m, FROM, "studiod"));
}

#define ARENA_TEST(f) cmocka_unit_test_setup_teardown(f, arena_setup, arena_teardown)

int main(void)
{
    if (crypto_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        ARENA_TEST(test_plain_text_mail_has_every_header_and_crlf_line_ends),
        ARENA_TEST(test_non_ascii_subject_is_an_encoded_word),
        ARENA_TEST(test_long_subject_folds_without_splitting_characters),
        ARENA_TEST(test_cr_lf_in_subject_and_recipient_cannot_add_headers),
        ARENA_TEST(test_html_mail_is_multipart_alternative),
        ARENA_TEST(test_attachment_is_base64_in_multipart_mixed_and_decodes_back),
        ARENA_TEST(test_non_ascii_attachment_name_uses_rfc2231),
        ARENA_TEST(test_quoted_printable_breaks_long_lines_and_keeps_trailing_space),
        ARENA_TEST(test_no_recipient_gives_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
