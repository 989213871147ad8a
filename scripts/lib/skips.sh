# The ledger of skipped checks, sourced by scripts/test.sh. Every test that leaves a check out
# appends `kind<TAB>test<TAB>why` to $BLAZER_SKIP_LOG (tests/common/mod.rs `notice`), so that a
# run without some resource (memory, ranks, a GPU, the test servers) cannot pass for a full one.
#
# Kinds: ranks (BLAZER_MAX_RANKS), launcher (a check MPICH's Hydra cannot support), memory,
# gpu, cluster and multihost (their servers skipped on purpose), browser (no chromium on the
# PATH: tests/report.rs's screenshot check).
#
# With BLAZER_STRICT_SKIPS=1 (CI sets it: .ci/run) a skip of a kind outside
# BLAZER_ALLOWED_SKIPS fails the run. CI has no GPU, and runs MPICH on at most 2 ranks by
# design (scripts/test-mpich.sh), so the default allows gpu, and ranks and launcher skips
# only from the MPICH step; everything else CI is meant to run.

BLAZER_SKIP_LOG="$(mktemp -t blazer-skips.XXXXXX)"
export BLAZER_SKIP_LOG

# Prints the count of skipped checks, by kind, and each one; returns 1 when strict and a skip
# is not allowed.
skips_report() {
    local allowed="${BLAZER_ALLOWED_SKIPS:-gpu mpich:ranks mpich:launcher}"
    local n
    n=$(wc -l <"$BLAZER_SKIP_LOG")
    echo
    echo "blazer tests: $n check(s) skipped"
    [ "$n" -eq 0 ] && return 0
    cut -f1 "$BLAZER_SKIP_LOG" | sort | uniq -c | sed 's/^/  /'
    sed 's/\t/: /g; s/^/  - /' "$BLAZER_SKIP_LOG"
    [ "${BLAZER_STRICT_SKIPS:-0}" = 1 ] || return 0
    local kind bad=0
    while IFS=$'\t' read -r kind _; do
        if [[ " $allowed " != *" $kind "* ]]; then
            bad=$((bad + 1))
        fi
    done <"$BLAZER_SKIP_LOG"
    if [ "$bad" -gt 0 ]; then
        echo "blazer tests: $bad skipped check(s) of a kind this run must not skip (allowed: $allowed; BLAZER_STRICT_SKIPS=1)" >&2
        return 1
    fi
}
