/* asan_init_first.c: preloaded, after gcc's libasan, into the sanitized tmp install's postgres
 * (test/harness/tmp_install.sh builds it). It works around a hang of an uninstrumented program
 * run with the ASan runtime in LD_PRELOAD (google/sanitizers#1270, open upstream):
 *
 * A preloaded library's constructor runs after those of the libraries the program links, so the
 * ASan runtime has not initialised itself when libgpg-error's constructor (postgres links it
 * through libsystemd and libgcrypt) calls bindtextdomain(). That mallocs while holding glibc's
 * gettext lock, the malloc starts the runtime's lazy initialisation, which calls dlerror(), which
 * calls dcgettext(), which takes and releases the same lock: the lock's state is corrupt, and the
 * next bindtextdomain() (postgres's own, in main) waits on it for ever.
 *
 * This bindtextdomain() initialises the runtime first, outside the lock, then calls glibc's. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

void __asan_init(void); /* the runtime's entry point, which instrumented code calls first */

char *bindtextdomain(const char *domainname, const char *dirname) {
    static char *(*real)(const char *, const char *);
    if (real == NULL) {
        __asan_init();
        real = (char *(*)(const char *, const char *))dlsym(RTLD_NEXT, "bindtextdomain");
    }
    return real(domainname, dirname);
}
