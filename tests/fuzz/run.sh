#!/bin/sh
# tests/fuzz/run.sh - runs every libFuzzer target of tests/fuzz for SECONDS
# seconds each, seeded from tests/fuzz/corpus/TARGET, and fails on any
# finding (crash, sanitizer report, leak, timeout, out-of-memory).
#
# Usage: tests/fuzz/run.sh SECONDS [TARGET...]   (TARGET: config, jwt, ...)
# Run from the build directory of a CC=clang ./configure --enable-fuzzing
# tree after `make fuzz-targets` (MSOAUTH_BUILDDIR and MSOAUTH_SRCDIR may
# say where). New inputs go to a work directory (FUZZ_WORKDIR, default a
# fresh one under TMPDIR), never into the checked-in seeds; it is removed
# after a clean run and kept, with the crashing inputs, after a finding.
# FUZZ_ARGS adds libFuzzer options (e.g. -jobs=2).
set -u

all_targets="config token_response entra_error jwt cache_entry base64 identity
  sasl_framing"

if [ $# -lt 1 ] || ! [ "$1" -gt 0 ] 2>/dev/null; then
  echo "usage: $0 SECONDS [TARGET...]" >&2
  exit 2
fi
seconds=$1
shift
targets=${*:-$all_targets}
here=$(cd "$(dirname "$0")" && pwd)
srcdir=${MSOAUTH_SRCDIR:-$(cd "$here/../.." && pwd)}
builddir=${MSOAUTH_BUILDDIR:-$(pwd)}
work=${FUZZ_WORKDIR:-$(mktemp -d "${TMPDIR:-/tmp}/msoauth-fuzz.XXXXXX")}

# UBSan must stop at its first report, so that libFuzzer keeps the input.
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS ASAN_OPTIONS

passed=0
failed=0
for t in $targets; do
  bin=$builddir/tests/fuzz/fuzz_$t
  seeds=$srcdir/tests/fuzz/corpus/$t
  out=$work/$t
  if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
    echo "fuzz_$t: FAIL: $bin or $seeds missing (make fuzz-targets?)"
    failed=$((failed + 1))
    continue
  fi
  mkdir -p "$out/corpus" "$out/findings"
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$out/findings/" ${FUZZ_ARGS:-} \
    "$out/corpus" "$seeds" >"$out/log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/log" | tail -1)
  units=$(find "$out/corpus" -type f | wc -l)
  findings=$(find "$out/findings" -type f | wc -l)
  line="fuzz_$t: ${runs:-?} executions in $seconds s (${rate:-?}/s), $units new inputs, $findings findings"
  if [ "$rc" -eq 0 ] && [ "$findings" -eq 0 ]; then
    echo "$line: ok"
    passed=$((passed + 1))
  else
    echo "$line: FAIL (exit $rc; log $out/log)"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|.*check failed)' \
      "$out/log" | head -5 | sed 's/^/  /'
    for f in "$out"/findings/*; do
      [ -e "$f" ] && echo "  input: $f"
    done
    failed=$((failed + 1))
  fi
done

echo "$passed passed, $failed failed"
if [ "$failed" -eq 0 ] && [ -z "${FUZZ_WORKDIR:-}" ]; then
  rm -rf "$work"
else
  echo "work directory kept: $work"
fi
[ "$failed" -eq 0 ]
