/*
 * migrate.h — forward-only SQL migrations for the master database, the
 * tenant template and every tenant database.
 */
#ifndef STUDIOD_MIGRATE_H
#define STUDIOD_MIGRATE_H

#include <libpq-fe.h>

/* Name of the template database that `migrate` keeps at the newest tenant schema. */
#define MIGRATE_TEMPLATE_DB "studiod_tenant_template"

/* Applies every file in dir (NNNN_name.sql, in order) not yet recorded in
 * schema_migrations, each in its own transaction. Returns the number applied, or -1. */
int migrate_apply(PGconn *pg, const char *dir, const char *label);
/* Master, then template (created when missing), then every tenant database. -1 on error. */
int migrate_all(void);

#endif
