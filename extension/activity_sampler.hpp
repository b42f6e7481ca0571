/*
 * activity_sampler.hpp — load-time set-up of the activity sampler background worker.
 */
#pragma once

namespace vigil {

/* Defines vigil.sample_interval and vigil.sample_history; when preloaded, requests the
 * shared-memory ring and registers the background worker. */
void activity_sampler_init();

} // namespace vigil
