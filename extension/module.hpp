/*
 * module.hpp — load-time set-up shared by the extension's features.
 */
#pragma once

namespace vigil {

/* Called once from _PG_init(): defines GUCs, registers the background worker. */
void module_init();

} // namespace vigil
