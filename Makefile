# freshet - one plain Makefile.
#   make            optimised build in build/
#   make run        builds, then starts the demo (embedded mode, synthetic data)
#   make test       installs missing packages, builds with ASan+UBSan in
#                   build/san, runs unit and integration tests
#   make bench      builds bench/ programs
#   make kafka-mock builds build/tests/tools/kafka_mock, librdkafka's mock Kafka
#                   cluster as a process (try Kafka sources without a broker)
# Variables: BUILD= (output dir), OPT= (optimisation flags), SANITIZE= (e.g.
# address,undefined).

CC       ?= cc
CXX      ?= c++
BUILD    ?= build
OPT      ?= -O2 -g
SANITIZE ?=
PKGS     := libmicrohttpd jansson libfyaml lmdb libcurl hiredis rdkafka avro-c

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror
CFLAGS  := -std=c11 -D_GNU_SOURCE $(WARN) $(OPT) -Isrc -pthread -MMD -MP $(PKG_CFLAGS) $(EXTRA_CFLAGS)
# src/core/dtoa.cc is the one C++ file: a bridge to libdouble-conversion
CXXFLAGS := -std=c++17 -Wall -Wextra -Wshadow -Werror $(OPT) -Isrc -MMD -MP $(EXTRA_CFLAGS)
# libxgboost: plain -lxgboost, Debian's xgboost.pc names a wrong libdir
LDLIBS  := $(PKG_LIBS) -lxgboost -ldouble-conversion -lstdc++ -lm -pthread
LDFLAGS :=
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
CXXFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

SRCS  := $(filter-out src/main.c,$(wildcard src/*/*.c))
CXXSRCS := $(wildcard src/*/*.cc)
OBJS  := $(SRCS:%.c=$(BUILD)/%.o) $(CXXSRCS:%.cc=$(BUILD)/%.o)
LIB   := $(BUILD)/libfreshet.a
BIN   := $(BUILD)/freshet

UNIT_SRCS := $(wildcard tests/unit/*/*_test.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%)

.PHONY: all run test unit bench deps lint clean format fuzz kafka-mock
all: $(BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(LIB): $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/src/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcriterion

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# fuzz drivers linked with a corpus-replay main (gcc); `make fuzz` uses libFuzzer
$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/replay_main.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/fuzz $(LDFLAGS) -o $@ $< tests/fuzz/replay_main.c $(LIB) $(LDLIBS)

# test peers and helpers (the mock Kafka cluster)
$(BUILD)/tests/tools/%: tests/tools/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

unit: $(UNIT_BINS) $(FUZZ_BINS) $(TOOL_BINS)
kafka-mock: $(BIN) $(BUILD)/tests/tools/kafka_mock
bench: $(BIN) $(BENCH_BINS)

deps:
	@scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	$(BIN) run -c examples/fraud/freshet.yaml --demo

test: deps
	@$(MAKE) --no-print-directory BUILD=build/san SANITIZE=address,undefined OPT="-O1 -g" all unit
	@tests/run.sh build/san

lint:
	@scripts/lint.sh

# coverage-guided fuzzing with clang's libFuzzer: FUZZ_SECONDS per target
FUZZ_SECONDS ?= 60
fuzz: deps
	@$(MAKE) --no-print-directory BUILD=build/libfuzzer CC=clang CXX=clang++ OPT="-O1 -g" \
	    SANITIZE=address,undefined EXTRA_CFLAGS=-fsanitize=fuzzer-no-link build/libfuzzer/libfreshet.a
	@for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); c=$${n#fuzz_}; \
	    echo "== $$n"; \
	    clang -std=c11 -D_GNU_SOURCE -O1 -g -Isrc -Itests/fuzz -fsanitize=fuzzer,address,undefined \
	      -o build/libfuzzer/$$n $$f build/libfuzzer/libfreshet.a $(LDLIBS) || exit 1; \
	    mkdir -p build/libfuzzer/corpus/$$c; \
	    build/libfuzzer/$$n -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	      build/libfuzzer/corpus/$$c tests/fuzz/corpus/$$c || exit 1; done

format:
	clang-format -i src/*/*.c src/*/*.h src/main.c

clean:
	rm -rf build

-include $(OBJS:.o=.d) $(BUILD)/src/main.d
