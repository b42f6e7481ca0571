/*
 * pg.hpp — the PostgreSQL headers pgvigil uses, included once with C linkage.
 *
 * PostgreSQL's headers are C; include them only through this file so that every
 * translation unit sees them the same way. postgres.h must come first.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "access/xact.h"
}

/* postgres.h defines these as macros; they break the C++ standard library headers. */
#ifdef gettext
#undef gettext
#endif
#ifdef dgettext
#undef dgettext
#endif
#ifdef ngettext
#undef ngettext
#endif
#ifdef dngettext
#undef dngettext
#endif
