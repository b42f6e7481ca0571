# pgvigil: PGXS build of the extension (C++17) plus the umbrella targets.
#
#   make deps     install every Debian package the build and the tests need (idempotent)
#   make          build the extension (pgvigil.so) and the vigild sidecar
#   make install  install the extension into PostgreSQL 15 and vigild into $(bindir)
#   make demo     deps + build + install, run vigild against a private cluster, print a summary
#   make test     deps + build + every suite; ends with "N passed, N failed"
#   make bench    deps + build + the benchmarks under test/bench/

# The control file lives in extension/, so PGXS's EXTENSION variable (which expects it at the
# top level) is not used: the control file is installed as DATA into MODULEDIR instead.
EXTNAME    = pgvigil
# The version lives in pgvigil.control only.
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" extension/$(EXTNAME).control)
MODULEDIR  = extension

MODULE_big = $(EXTNAME)
OBJS       = $(patsubst %.cpp,%.o,$(sort $(wildcard extension/*.cpp)))
DATA       = extension/$(EXTNAME).control $(wildcard extension/sql/upgrade/$(EXTNAME)--*--*.sql)
DATA_built = $(EXTNAME)--$(EXTVERSION).sql
EXTRA_CLEAN = $(EXTNAME)--$(EXTVERSION).sql extension/*.d
PG_CPPFLAGS = -I$(CURDIR)/extension
SHLIB_LINK  = -lstdc++

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

# No LLVM bitcode for JIT: nothing here is worth inlining and clang is not a dependency.
override with_llvm = no

# Everything below that needs PostgreSQL's build files is skipped until `make deps` has run.
ifneq ($(PGXS),)
include $(PGXS)

ifneq ($(MAJORVERSION),15)
$(error pgvigil targets PostgreSQL 15; $(PG_CONFIG) is $(MAJORVERSION))
endif

override CXXFLAGS := -std=c++17 -fPIC -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wno-missing-field-initializers -Wno-register -fno-strict-aliasing -fwrapv \
	-DPGVIGIL_VERSION='"$(EXTVERSION)"' -MMD -MP

extension/%.o: extension/%.cpp
	$(CXX) $(CXXFLAGS) $(CPPFLAGS) -c -o $@ $<

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

# ---------------------------------------------------------------------------
# Umbrella targets. Each re-enters make so that PGXS is read after deps exist.

BUILD   := $(CURDIR)/build
JOBS    ?= 2
bindir_sidecar ?= /usr/local/bin
unitdir_sidecar ?= /etc/systemd/system

.PHONY: deps sidecar install-sidecar install-extension tmp-install demo test bench format

deps:
	@test/harness/deps.sh

sidecar:
	@cmake -S . -B $(BUILD)/sidecar -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
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

# A private copy of PostgreSQL 15 with pgvigil installed into it: the suites and
# benchmarks run against this, so they never depend on (or change) the system install.
tmp-install:
	@test/harness/tmp_install.sh

demo: deps
	@$(MAKE) --no-print-directory -j $(JOBS) all
	@$(MAKE) --no-print-directory install >/dev/null
	@test/demo.sh

test: deps
	@$(MAKE) --no-print-directory -j $(JOBS) all
	@$(MAKE) --no-print-directory tmp-install
	@test/run_all.sh

bench: deps
	@$(MAKE) --no-print-directory -j $(JOBS) all
	@$(MAKE) --no-print-directory tmp-install
	@test/bench/run_all.sh

format:
	clang-format -i extension/*.cpp extension/*.hpp sidecar/*.cpp sidecar/*.hpp test/unit/*.cpp test/integration/*.cpp
