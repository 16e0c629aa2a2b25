#!/usr/bin/env bash
# Installs the dependencies, builds Lockstep with AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs every test: unit tests, the local
# fleet integration tests, and a short run of every libFuzzer harness.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

jobs=$(nproc)
cmake -S . -B build-test -DLOCKSTEP_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
cmake --build build-test -j"$jobs"

# The demo builds optimised, where gcc finds warnings a debug build does
# not (format truncation after inlining): compile that way too.
cmake -S . -B build-opt -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build-opt -j"$jobs"

# Fuzz harnesses need clang's libFuzzer: a second, small build.
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DLOCKSTEP_FUZZ=ON \
	-DCMAKE_BUILD_TYPE=Debug
fuzzers=$(find tests/fuzz -maxdepth 1 -name 'fuzz_*.c' -printf '%f\n' | sed 's/\.c$//')
# shellcheck disable=SC2086
cmake --build build-fuzz -j"$jobs" --target $fuzzers

status=0
(cd build-test && ctest -j2 --output-on-failure) || status=1
(cd build-fuzz && ctest -j2 -R '_smoke$' --output-on-failure) || status=1
exit $status
