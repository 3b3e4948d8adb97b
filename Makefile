# meshcert front door. `make demo` and `make test` install missing Debian
# packages first (scripts/deps.sh), so a fresh bookworm machine needs nothing else.
.PHONY: all deps build demo demo-offline demo-rotate test release asan valgrind fuzz fuzz-build bench bench-pki bench-server bench-scale soak-fuzz soak-kill format lint clean

BUILD       ?= build
BUILD_ASAN  ?= build-asan
BUILD_RELEASE ?= build-release
BUILD_FUZZ  ?= build-fuzz
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 30
SOAK_SECONDS ?= 3600
ROUNDS      ?= 200
CMAKE_FLAGS ?=

all: build

deps:
	@scripts/deps.sh

$(BUILD)/Makefile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

# The networked workflow: server, issuer, two agents, shared trust proven (~5 s).
# Writes ./demo-out/workflow (or $MESHCERT_DEMO_DIR).
demo: deps build
	scripts/demo.sh $(BUILD)/src/cli/meshcert

# The same PKI steps by hand, offline (no server): ca create, csr create, sign, verify.
# Writes ./demo-out/offline (or $MESHCERT_DEMO_DIR), so the two demos keep each other's files.
demo-offline: deps build
	scripts/demo-offline.sh $(BUILD)/src/cli/meshcert

# A root rotation across three clusters (issue 12), each step printed with the
# clusters' roots and a cross-cluster mutual-TLS probe (< 1 min).
# Writes ./demo-out/rotate (or $MESHCERT_DEMO_DIR).
demo-rotate: deps build
	scripts/demo-rotate.sh $(BUILD)/src/cli/meshcert $(BUILD)/tests/e2e/trust-probe

test: deps build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# The optimised build (-O3, NDEBUG: assert()s gone, GCC's flow analysis sees
# more, -Werror included) and its unit tests only (label "unit", ~1 min): the
# e2e suites run in `make test` and `make asan`.
release: deps
	cmake -S . -B $(BUILD_RELEASE) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD_RELEASE) -j $(JOBS)
	ctest --test-dir $(BUILD_RELEASE) --output-on-failure -j $(JOBS) -L unit

# The whole suite under ASan+UBSan+LSan, except tests labelled "nosan": those
# that run no code another test does not already run in this build (the kubectl
# version matrix, the README walkthrough's breakage variant).
asan: deps
	CC=clang cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DMC_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(BUILD_ASAN) --output-on-failure -j $(JOBS) -LE nosan

# Every unit test under valgrind's memcheck: any leak or memory error fails.
valgrind: deps build
	scripts/valgrind.sh $(BUILD)/tests/unit $(JOBS)

fuzz-build: deps
	CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=Debug -DMC_FUZZ=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD_FUZZ) -j $(JOBS)

# Runs every fuzz target for FUZZ_SECONDS (or the target's own time from
# tests/fuzz/seconds.txt) on a copy of its seed corpus.
fuzz: fuzz-build
	scripts/fuzz.sh $(BUILD_FUZZ)/tests/fuzz $(FUZZ_SECONDS) $(JOBS)

bench: bench-pki bench-server

bench-pki: deps build
	bench/pki.sh $(BUILD)

bench-server: deps build
	bench/server.sh $(BUILD)

# The whole workflow at N clusters (default N="10 100 1000", one table): wall
# time to all FINISHED, CPU against the crypto ceiling, API requests per
# issuance, RSS and threads, issuer resync, renewal storm (bench/RESULTS.md).
N ?= 10 100 1000
bench-scale: deps build
	bench/scale.sh $(BUILD) "$(N)"

# Soak runs (not in CI; see bench/RESULTS.md). soak-fuzz: the ASan/UBSan server
# under mutated HTTPS requests for SOAK_SECONDS (1 h), then health, sanitizers,
# exit status, integrity and canary writes checked. soak-kill: ROUNDS (200)
# rounds of kill -9 of server, issuer or an agent during issuances, then no
# lost write, no second key, no double bounce, no broken chain.
soak-fuzz: deps
	CC=clang cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DMC_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD_ASAN) -j $(JOBS) --target meshcert
	SOAK_SECONDS=$(SOAK_SECONDS) bench/soak_fuzz.sh $(BUILD_ASAN)

soak-kill: deps build
	ROUNDS=$(ROUNDS) bench/soak_kill.sh $(BUILD)

format:
	find src tests bench -name '*.[ch]' | xargs clang-format -i

lint: build
	find src -name '*.c' | xargs clang-tidy -p $(BUILD) --quiet

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ) $(BUILD_RELEASE)
