# semid build. `make` -> ./semid; `make test` -> unit tests (+ PyTorch/JS references);
# `make asan` -> the same tests under ASan+UBSan; `make bench` -> benchmarks;
# `make fuzz` -> libFuzzer on every parser (tests/fuzz), `make fuzz-smoke` -> its short CI run.
# Sources are found by wildcard so new files need no Makefile edits.
BUILD    ?= build
CC       ?= gcc
PKGS     := openblas libcjson libpcre2-8 libutf8proc libmicrohttpd zlib libcurl
OPT      ?= -O3 -march=native -mtune=native
CFLAGS   ?= $(OPT) -g
CFLAGS   += -std=gnu11 -Wall -Wextra -fopenmp -Isrc $(shell pkg-config --cflags $(PKGS))
LDLIBS   += $(shell pkg-config --libs $(PKGS)) -llapacke -llapack -fopenmp -lm -lpthread
TEST_LIBS := $(shell pkg-config --libs criterion)

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/base/*.c src/data/*.c src/io/*.c src/nn/*.c \
              src/text/*.c src/ids/*.c src/eval/*.c src/rec/*.c src/lm/*.c src/serve/*.c))
CMD_SRC  := src/main.c $(wildcard src/cmd/*.c)
TEST_SRC := $(wildcard tests/*.c)
BENCH_SRC := $(wildcard bench/*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CMD_OBJ  := $(CMD_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
LIB      := $(BUILD)/libsemid.a

# The binary at the top for `./semid`; other build dirs keep theirs inside.
BIN      := $(if $(filter build,$(BUILD)),semid,$(BUILD)/semid)
TEST_BIN := $(BUILD)/semid-tests


.PHONY: all test test-c test-ref asan test-asan-serve bench clean fuzz fuzz-smoke fuzz-build fuzz-bins FORCE
all: $(BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The web page is embedded with .incbin (src/serve/static.c), which -MMD does not list.
$(BUILD)/src/serve/static.o: $(wildcard src/serve/static/*)

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# MPI (src/nn/dist.h): only src/nn/dist.c differs. It is compiled a second time with mpicc
# -DSD_MPI into $(BUILD)/mpi/dist.o, which links before the library (the archive's serial dist.o,
# defining the same symbols, is then not pulled in). `make MPI=1` links ./semid that way;
# $(BUILD)/semid-mpi is always the MPI binary (built for the tests when mpicc is present).
MPI      ?=
MPICC    ?= mpicc
MPI_OBJ  := $(BUILD)/mpi/dist.o
MPI_BIN  := $(BUILD)/semid-mpi
HAVE_MPICC := $(shell command -v $(MPICC) 2>/dev/null)

$(MPI_OBJ): src/nn/dist.c
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) -DSD_MPI -MMD -MP -c $< -o $@

# Relinks ./semid when MPI= changes.
$(BUILD)/mpi-flag: FORCE
	@mkdir -p $(BUILD); echo '$(MPI)' | cmp -s - $@ || echo '$(MPI)' > $@

$(BIN): $(CMD_OBJ) $(LIB) $(BUILD)/mpi-flag $(if $(MPI),$(MPI_OBJ))
	$(if $(MPI),$(MPICC),$(CC)) $(CFLAGS) -o $@ $(CMD_OBJ) $(if $(MPI),$(MPI_OBJ)) $(LIB) $(LDLIBS)

$(MPI_BIN): $(CMD_OBJ) $(MPI_OBJ) $(LIB)
	$(MPICC) $(CFLAGS) -o $@ $(CMD_OBJ) $(MPI_OBJ) $(LIB) $(LDLIBS)

# The CLI parser lives with the commands (src/cmd), outside the library; its tests link it in.
CLI_OBJ  := $(BUILD)/src/cmd/cli.o
$(TEST_BIN): $(TEST_OBJ) $(CLI_OBJ) $(LIB)
	$(CC) $(CFLAGS) -o $@ $(TEST_OBJ) $(CLI_OBJ) $(LIB) $(LDLIBS) $(TEST_LIBS)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# Reference data (PyTorch, Hugging Face tokenizers) is generated into $(BUILD)/ref
# before the C tests run; tests skip nothing silently: a missing reference fails.
test-ref:
	@BUILD=$(BUILD) bash tests/ref/run_all.sh

test-c: $(TEST_BIN) $(BIN) $(if $(HAVE_MPICC),$(MPI_BIN))
	OMP_WAIT_POLICY=passive SEMID_BIN=$(abspath $(BIN)) $(if $(HAVE_MPICC),SEMID_MPI_BIN=$(abspath $(MPI_BIN))) SEMID_REF=$(abspath $(BUILD))/ref SEMID_FIXTURES=$(abspath tests/fixtures) \
	  $(TEST_BIN) --jobs 2 $(TEST_ARGS)

# The fuzz smoke run has its own sanitizer build (build-fuzz), so `make asan` does not repeat it.
test: test-ref
	$(MAKE) test-c
	$(if $(filter build,$(BUILD)),$(MAKE) fuzz-smoke)
	$(if $(filter build,$(BUILD)),$(MAKE) test-asan-serve)

ASAN_OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
asan:
	$(MAKE) BUILD=build-asan OPT="$(ASAN_OPT)" LDFLAGS="-fsanitize=address,undefined" test \
	  LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp)

# The server's suites under ASan+UBSan in every `make test`: its HTTP threads, the model owner
# and clients that leave mid-request are where a memory error would hide. build-asan's binary
# and test runner, those suites only (`make asan` runs everything).
test-asan-serve:
	$(MAKE) BUILD=build-asan OPT="$(ASAN_OPT)" LDFLAGS="-fsanitize=address,undefined" build-asan/semid build-asan/semid-tests
	OMP_WAIT_POLICY=passive LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) SEMID_BIN=$(abspath build-asan/semid) \
	  SEMID_FIXTURES=$(abspath tests/fixtures) build-asan/semid-tests --jobs 2 --filter '@(serve|gen_batch|chat_engine)/*'

bench: $(BIN) $(BENCH_BIN)
	@OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-passive} BUILD=$(BUILD) bash bench/run_all.sh

# ---- fuzzing (tests/fuzz/README.md) ----
# The library is built with clang into build-fuzz/ under ASan+UBSan with coverage hooks; each
# tests/fuzz/fuzz_NAME.c links it with libFuzzer into build-fuzz/fuzz_NAME. `make fuzz` runs
# every harness for FUZZ_SECONDS on its corpus (new inputs go to build-fuzz/corpus/NAME, the
# committed seeds stay as they are); `make fuzz-smoke` replays the seeds and the regression
# inputs and fuzzes each harness for FUZZ_SMOKE_SECONDS (two at a time under make -j2).
FUZZ_BUILD   := build-fuzz
FUZZ_NAMES   := $(sort $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_OPT     := -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=undefined -Wno-psabi

fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang OPT="$(FUZZ_OPT)" fuzz-bins

fuzz-bins: $(FUZZ_NAMES:%=$(BUILD)/fuzz_%)

# Relinks the harnesses when the flags change.
$(BUILD)/fuzz-flags: FORCE
	@mkdir -p $(BUILD); echo '$(CFLAGS)' | cmp -s - $@ || echo '$(CFLAGS)' > $@

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard tests/fuzz/*.h) $(LIB) $(BUILD)/fuzz-flags
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB) $(LDLIBS)

FORCE:

fuzz: fuzz-build
	@bad=""; for n in $(FUZZ_NAMES); do bash tests/fuzz/run.sh fuzz $$n $(FUZZ_SECONDS) || bad="$$bad $$n"; done; \
	  if [ -n "$$bad" ]; then echo "fuzz: findings in:$$bad (see $(FUZZ_BUILD)/artifacts/)"; exit 1; fi

fuzz-smoke: $(FUZZ_NAMES:%=fuzz-smoke-%)

fuzz-smoke-%: fuzz-build
	@bash tests/fuzz/run.sh smoke $* $(FUZZ_SMOKE_SECONDS)

clean:
	rm -rf build build-asan build-fuzz semid

-include $(LIB_OBJ:.o=.d) $(CMD_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(MPI_OBJ:.o=.d)
