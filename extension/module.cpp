/*
 * module.cpp — the module's identity: magic block, load-time set-up, vigil.version().
 */
#include "guard.hpp"
#include "module.hpp"
#include "health_checks.hpp"
#include "activity_sampler.hpp"

extern "C" {
PG_MODULE_MAGIC;

void _PG_init(void);
}

/* Defines the GUCs and, when preloaded, the background worker. */
void _PG_init(void) {
    /* Nothing to set up while pg_upgrade loads libraries to check them. */
    if (IsBinaryUpgrade)
        return;
    vigil::module_init();
}

namespace vigil {

void module_init() {
    /* Each feature that needs load-time set-up adds its call here. */
    health_checks_init();
    activity_sampler_init();
}

} // namespace vigil

/* vigil.version() → text: the version of the loaded pgvigil library. */
VIGIL_FUNCTION(vigil_version) { PG_RETURN_TEXT_P(cstring_to_text(PGVIGIL_VERSION)); }
