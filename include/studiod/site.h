/*
 * site.h — the pages at the root of each host: the product's landing page
 * on the bare domain, a studio's home page, and the staff home (/app).
 */
#ifndef STUDIOD_SITE_H
#define STUDIOD_SITE_H

#include "studiod/http.h"

extern const struct route site_routes[];

#endif
