/*
 * health_checks.hpp — load-time set-up of the health checks (their vigil.* thresholds).
 */
#pragma once

namespace vigil {

/* Defines the vigil.* threshold GUCs of every health check. */
void health_checks_init();

} // namespace vigil
