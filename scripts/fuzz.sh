#!/usr/bin/env bash
# A bounded fuzz run for CI: the property tests of the target parser, the line
# source and the title extractor keep drawing fresh random examples for about
# FUZZ_SECONDS in total (default 60), then stop. Exit status is pytest's.
#
#   bash scripts/fuzz.sh            # about 60 s
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTEST="${PYTEST:-.venv/bin/pytest}"
TOTAL="${FUZZ_SECONDS:-60}"
TESTS=(tests/unit/test_fuzz_targets.py tests/unit/test_fuzz_title.py)
count=$("$PYTEST" -q --collect-only -p no:cacheprovider -m "not xfail" "${TESTS[@]}" 2>/dev/null \
    | grep -c '::' || true)
count=$((count > 0 ? count : 1))
per_test=$(python3 -c "print(max(1.0, ${TOTAL} / ${count}))")
echo "fuzzing ${count} properties for about ${per_test}s each (${TOTAL}s in all)"
AIOSCOUT_FUZZ_SECONDS="$per_test" exec "$PYTEST" -q -p no:cacheprovider \
    -o timeout=$((TOTAL + 120)) "${TESTS[@]}"
