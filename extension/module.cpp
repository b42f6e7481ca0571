/*
 * module.cpp — the module's identity: magic block, load-time set-up, vigil.version().
 */
#include "guard.hpp"
#include "result_row.hpp"
#include "health_checks.hpp"
#include "activity_sampler.hpp"

extern "C" {
#include "utils/guc.h"
}

extern "C" {
PG_MODULE_MAGIC;

void _PG_init(void);
}

/* Defines the GUCs and, when preloaded, the background worker. */
void _PG_init(void) {
    /* Nothing to set up while pg_upgrade loads libraries to check them. */
    if (IsBinaryUpgrade)
        return;
    vigil::guarded("_PG_init", [] {
        /* Each feature that needs load-time set-up adds its call here. */
        vigil::health_checks_init();
        vigil::activity_sampler_init();
        /* Last: any other vigil.* setting is a typo; warn about it and drop it. */
        vigil::pg_call([] { MarkGUCPrefixReserved("vigil"); });
    });
}

/* vigil.version() → text: the version of the loaded pgvigil library. */
VIGIL_FUNCTION(vigil_version) {
    return vigil::text_datum(PGVIGIL_VERSION);
}
