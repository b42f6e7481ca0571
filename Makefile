# pgvigil: PGXS build of the extension (C++17) plus the umbrella targets.
#
#   make deps           install every Debian package the build and the tests need (idempotent)
#   make                build the extension (pgvigil.so) and the vigild sidecar
#   make install        install the extension into PostgreSQL 15 and vigild into $(bindir)
#   make installcheck   the regression and isolation suites against the installed extension (PGXS)
#   make demo           deps + build + install, run vigild against a private cluster, print a summary
#   make test           deps + build + every suite; ends with "N passed, N failed"
#   make test-sanitize  the same with ASan and UBSan (= make test SANITIZE=1), in build/sanitize/
#   make bench          deps + build + the benchmarks under test/bench/
#   make deb            the Debian packages postgresql-15-pgvigil and vigild, into build/deb/
#   make test-packages  build the packages, lint, install and test them, then purge them

# The control file lives in extension/, so PGXS's EXTENSION variable (which expects it at the
# top level) is not used: the control file is installed as DATA into MODULEDIR instead.
EXTNAME    = pgvigil
# The version lives in pgvigil.control only.
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" extension/$(EXTNAME).control)
MODULEDIR  = extension

MODULE_big = $(EXTNAME)
# extension/*.cpp use PostgreSQL; extension/core/*.cpp are pure C++ (also unit-tested by CMake).
OBJS       = $(patsubst %.cpp,%.o,$(sort $(wildcard extension/*.cpp extension/core/*.cpp)))
DATA       = extension/$(EXTNAME).control
DATA_built = $(EXTNAME)--$(EXTVERSION).sql
EXTRA_CLEAN = $(EXTNAME)--$(EXTVERSION).sql extension/*.d extension/core/*.d
PG_CPPFLAGS = -I$(CURDIR)/extension -I$(CURDIR)/common
SHLIB_LINK  = -lstdc++
# PGXS appends PG_CXXFLAGS to its own CXXFLAGS (and the user's); read when PGXS is
# included, so set here; nothing is put in their place.
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
	-Wno-register -MMD -MP
# The sanitized build (`make test SANITIZE=1`, below) compiles the extension from a copy of the
# sources in build/sanitize/ext, since PGXS puts objects next to the sources: make run there
# always builds with ASan and UBSan, run anywhere else never does, so the two never mix.
ifneq ($(filter %/build/sanitize/ext,$(CURDIR)),)
PG_CXXFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
SHLIB_LINK  += -fsanitize=address,undefined
endif

# The suites, as every PGXS project declares them: `make installcheck` runs them against the
# installed extension on a temporary instance (the tests need pgvigil preloaded), and
# test/run_regress.sh reads these lists to run them against build/tmp_install.
REGRESS        = $(sort $(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS   = --temp-instance=./tmp_check --temp-config=test/harness/regress.conf \
                 --load-extension=$(EXTNAME)
ISOLATION      = $(sort $(basename $(notdir $(wildcard test/isolation/specs/*.spec))))
ISOLATION_OPTS = --inputdir=test/isolation --temp-instance=./tmp_check_iso \
                 --temp-config=test/harness/regress.conf --load-extension=$(EXTNAME) \
                 --dbname=contrib_regression
EXTRA_CLEAN   += tmp_check tmp_check_iso output_iso

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

# No LLVM bitcode for JIT: nothing here is worth inlining.
override with_llvm = no

# The umbrella targets install PostgreSQL's build files themselves (`make deps`) before they
# re-enter make; every other goal needs them now.
UMBRELLA_GOALS = deps demo test test-ha test-sanitize bench fuzz deb test-packages format format-check sidecar print-%
ifeq ($(PGXS),)
ifneq ($(filter-out $(UMBRELLA_GOALS),$(or $(MAKECMDGOALS),all)),)
$(error PostgreSQL 15's build files were not found ($(PG_CONFIG) --pgxs failed): run `make deps` first)
endif
else
include $(PGXS)

ifneq ($(MAJORVERSION),15)
$(error pgvigil targets PostgreSQL 15; $(PG_CONFIG) is $(MAJORVERSION))
endif


# Only vigil.version() needs the version.
extension/module.o: CPPFLAGS += -DPGVIGIL_VERSION='"$(EXTVERSION)"'
extension/module.o: extension/$(EXTNAME).control

-include $(OBJS:.o=.d)

# The install script is assembled from one file per feature, in file-name order.
$(EXTNAME)--$(EXTVERSION).sql: $(sort $(wildcard extension/sql/*.sql)) extension/$(EXTNAME).control
	cat $(sort $(wildcard extension/sql/*.sql)) > $@

endif

# `make` builds both programs; `make install` installs both. EXTENSION_ONLY=1 skips vigild.
ifndef EXTENSION_ONLY
all: sidecar
install: install-sidecar
endif

# Prints a variable: `make -s print-REGRESS` (the harness reads the suite lists this way).
print-%:
	@echo $($*)

# ---------------------------------------------------------------------------
# Umbrella targets. Each re-enters make so that PGXS is read after deps exist.

# SANITIZE=1: every build output and the suites' files go to build/sanitize/ instead: vigild and
# its suites in build/sanitize/sidecar (CMake's VIGIL_SANITIZE), the extension in
# build/sanitize/ext, installed into build/sanitize/tmp_install (docs/development.md, "Sanitizers").
BUILD   := $(CURDIR)/build$(if $(filter 1,$(SANITIZE)),/sanitize)
SIDECAR_CMAKE_FLAGS = $(if $(filter 1,$(SANITIZE)),-DVIGIL_SANITIZE=ON) \
                      $(if $(CCACHE),-DCMAKE_CXX_COMPILER_LAUNCHER=$(CCACHE))
# ccache, when installed, caches compilations across builds and checkouts (paths relative to
# the checkout, so a second worktree of the same sources hits the cache).
CCACHE := $(shell command -v ccache 2>/dev/null)
export CCACHE_BASEDIR := $(CURDIR)
TEST_BUILD_GOALS    = $(if $(filter 1,$(SANITIZE)),sidecar extension-sanitize,all)
JOBS    ?= 2
bindir_sidecar ?= /usr/local/bin
unitdir_sidecar ?= /etc/systemd/system

.PHONY: deps sidecar install-sidecar install-extension extension-sanitize tmp-install demo test test-sanitize bench fuzz deb test-packages format format-check

deps:
	@test/harness/deps.sh

sidecar:
	@cmake -S . -B $(BUILD)/sidecar -DCMAKE_BUILD_TYPE=RelWithDebInfo $(SIDECAR_CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD)/sidecar -j $(JOBS)

install-extension:
	@$(MAKE) --no-print-directory install EXTENSION_ONLY=1

install-sidecar: sidecar
	install -D -m 755 $(BUILD)/sidecar/vigild $(DESTDIR)$(bindir_sidecar)/vigild
	install -D -m 644 sidecar/systemd/vigild.service $(DESTDIR)$(unitdir_sidecar)/vigild.service
	@# The configuration is the operator's once installed: never overwritten.
	test -e $(DESTDIR)/etc/vigil/vigild.toml || install -D -m 644 sidecar/vigild.toml $(DESTDIR)/etc/vigil/vigild.toml
	@# The unit's dedicated user and its backup directory (ReadWritePaths); not for staged installs.
	@if [ -z "$(DESTDIR)" ]; then \
	  id vigil >/dev/null 2>&1 || useradd --system --home-dir /var/lib/vigil --shell /usr/sbin/nologin vigil; \
	  install -d -m 750 -o vigil -g vigil /var/lib/vigil /var/lib/vigil/backups; \
	else install -d -m 750 $(DESTDIR)/var/lib/vigil/backups; fi

# The sanitized extension, build/sanitize/ext/pgvigil.so: the sources (and this Makefile) are
# mirrored there, keeping their times, so that make there rebuilds only what changed.
extension-sanitize:
	@mkdir -p build/sanitize/ext
	@rsync -a --delete --exclude='*.o' --exclude='*.d' --exclude='*.so' --exclude='*.bc' \
	  Makefile extension common build/sanitize/ext/
	@$(MAKE) --no-print-directory -C build/sanitize/ext EXTENSION_ONLY=1

# A private copy of PostgreSQL 15 with pgvigil installed into it: the suites and
# benchmarks run against this, so they never depend on (or change) the system install.
tmp-install:
	@test/harness/tmp_install.sh

demo: deps
	@$(MAKE) --no-print-directory -j $(JOBS) all
	@$(MAKE) --no-print-directory install >/dev/null
	@test/demo.sh

test: deps
	@$(MAKE) --no-print-directory -j $(JOBS) $(TEST_BUILD_GOALS)
	@$(MAKE) --no-print-directory tmp-install
	@test/run_all.sh

# The high-availability suite: a real Patroni cluster (etcd, two members, PgBouncer) and the
# transfer workload across a switchover and a kill -9 (docs/high-availability.md).
.PHONY: test-ha
test-ha: deps
	@$(MAKE) --no-print-directory -j $(JOBS) all
	@$(MAKE) --no-print-directory tmp-install
	@test/ha/run.sh

# Every suite against the ASan+UBSan builds; any sanitizer report fails the run.
test-sanitize:
	@$(MAKE) --no-print-directory test SANITIZE=1

bench: deps
	@$(MAKE) --no-print-directory -j $(JOBS) all
	@$(MAKE) --no-print-directory tmp-install
	@test/bench/run_all.sh

# Each fuzz target for FUZZ_SECONDS (default 60) with clang's libFuzzer; crashes go to build/fuzz/.
fuzz: deps
	@test/fuzz/run_fuzzers.sh

# Debian packages (debian/, debhelper + pg_buildext), written to build/deb/.
deb: deps
	@test/packages/build_debs.sh

# Builds the packages, runs lintian, installs them, tests what was installed, purges them.
test-packages: deps
	@test/packages/test_packages.sh

# Every C++ file of the project, tracked or new (build output excluded).
CXX_SOURCES = $(shell git ls-files -co --exclude-standard -- '*.cpp' '*.hpp' 2>/dev/null)

format:
	@clang-format -i $(CXX_SOURCES)

# Fails, listing the files, when clang-format would change any of them (.ci/run calls it).
format-check:
	@bad=$$(for f in $(CXX_SOURCES); do clang-format --dry-run -Werror "$$f" >/dev/null 2>&1 || echo "$$f"; done); \
	if [ -n "$$bad" ]; then echo "format-check: not formatted (run make format):" $$bad >&2; exit 1; fi; \
	echo "format-check: $(words $(CXX_SOURCES)) files formatted"
