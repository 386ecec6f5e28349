/*
 * auth_internal.h — shared by auth.c (rules, SQL) and auth_routes.c (HTTP).
 */
#ifndef STUDIOD_AUTH_INTERNAL_H
#define STUDIOD_AUTH_INTERNAL_H

#include <stdlib.h>

#include "studiod/auth.h"

struct db_conn;

enum auth_result { AUTH_OK, AUTH_BAD_CREDENTIALS, AUTH_THROTTLED, AUTH_DB_DOWN };

struct auth_login_result {
    char user_id[40];
    char user_name[128];
    char *token, *csrf_token;
    int retry_after;
};

enum auth_result auth_throttled(struct request *req, struct db_conn *m, const char *email,
                                int *retry_after);
/* Checks throttling and the password, records the outcome (and its audit entry), and opens
 * a session. */
enum auth_result auth_login(struct request *req, const char *email, const char *password,
                            struct auth_login_result *out);
/* Ends the session named by the cookie, with its audit entry. 0, or -1 when the database
 * failed (the session stands; 503 may have been replied). */
int auth_logout(struct request *req);

#endif
