# semid build. `make` -> ./semid; `make test` -> unit tests (+ PyTorch/JS references);
# `make asan` -> the same tests under ASan+UBSan; `make bench` -> benchmarks.
# Sources are found by wildcard so new files need no Makefile edits.
BUILD    ?= build
CC       ?= gcc
PKGS     := openblas libcjson libpcre2-8 libutf8proc libmicrohttpd zlib
OPT      ?= -O3 -march=native -mtune=native
CFLAGS   ?= $(OPT) -g
CFLAGS   += -std=gnu11 -Wall -Wextra -fopenmp -Isrc $(shell pkg-config --cflags $(PKGS))
LDLIBS   += $(shell pkg-config --libs $(PKGS)) -llapacke -llapack -fopenmp -lm -lpthread
TEST_LIBS := $(shell pkg-config --libs criterion)

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/base/*.c src/data/*.c src/io/*.c src/nn/*.c \
              src/text/*.c src/ids/*.c src/rec/*.c src/lm/*.c src/serve/*.c))
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

.PHONY: all test test-c test-ref asan bench clean
all: $(BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(CMD_OBJ) $(LIB)
	$(CC) $(CFLAGS) -o $@ $(CMD_OBJ) $(LIB) $(LDLIBS)

$(TEST_BIN): $(TEST_OBJ) $(LIB)
	$(CC) $(CFLAGS) -o $@ $(TEST_OBJ) $(LIB) $(LDLIBS) $(TEST_LIBS)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# Reference data (PyTorch, Hugging Face tokenizers) is generated into $(BUILD)/ref
# before the C tests run; tests skip nothing silently: a missing reference fails.
test-ref:
	@BUILD=$(BUILD) bash tests/ref/run_all.sh

test-c: $(TEST_BIN) $(BIN)
	OMP_WAIT_POLICY=passive SEMID_BIN=$(abspath $(BIN)) SEMID_REF=$(abspath $(BUILD))/ref SEMID_FIXTURES=$(abspath tests/fixtures) \
	  $(TEST_BIN) --jobs 2 $(TEST_ARGS)

test: test-ref
	$(MAKE) test-c

asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  LDFLAGS="-fsanitize=address,undefined" test

bench: $(BIN) $(BENCH_BIN)
	@OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-passive} BUILD=$(BUILD) bash bench/run_all.sh

clean:
	rm -rf build build-asan semid

-include $(LIB_OBJ:.o=.d) $(CMD_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
