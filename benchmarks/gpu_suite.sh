#!/usr/bin/env bash
# The GPU suite: everything worth checking on a lent GPU, in one call (docs/gpu-suite.md).
#
# usage: benchmarks/gpu_suite.sh OUT_DIR
#
# Eight parts, each in its own process group under its own time limit, logging to
# OUT_DIR/<n>-<part>.log and leaving its state in OUT_DIR/status/; one that fails or hangs
# never stops the others. OUT_DIR/summary.md (printed at the end) has one row per part: ok,
# failed (with its log's last line) or skipped (with why), then every part's tables.
#   1 install carried wheels, graphspec importable    5 spec timings in three modes
#   2 pytest -m gpu                                    6 torchvision VGG16 / SSD300 ratios
#   3 box/NMS/RoI ops against torchvision.ops          7 summing unpool vs F.max_unpool2d
#   4 the default test suite (CUDA hidden, beside)     8 graphspec bench --compile on CUDA
# To fit the budget, part 4 runs on CPU cores of its own (CUDA hidden) beside the GPU parts,
# and the checks 2, 3 and 8 share the GPU; the timings 7, 5 and 6 then run alone, each
# planning its work to end before its limit. Without CUDA the GPU parts say "skipped: no
# CUDA"; 3, 5 and 8 first run a short CPU dry run of their code, and 7 runs on the CPU.
# Exit status: 1 when a part (or a dry run) failed, else 0; skipped parts do not count.
#
# Environment: PYTHON (python3), GPU_SUITE_QUICK=1 (dry-run sizes; part 4 skipped),
# GPU_SUITE_BUDGET_S (whole suite, 450), GPU_SUITE_TESTS_S (part 4's limit, 360),
# GPU_SUITE_WHEELS (.whl), GPU_SUITE_SITE (where wheels install), GPU_SUITE_SERIAL=1
# (part 4 after the GPU parts instead of beside them), GPU_SUITE_TEST_WORKERS (part 4's
# pytest-xdist workers; 1: none).
set -u -o pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 OUT_DIR" >&2
    exit 2
fi
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
case $PY in */*) PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY") ;; esac # survives cd
mkdir -p "$1" && OUT=$(cd "$1" && pwd) || exit 2
cd "$REPO" || exit 2
QUICK=${GPU_SUITE_QUICK:-0}
BUDGET=${GPU_SUITE_BUDGET_S:-450}
WHEELS=${GPU_SUITE_WHEELS:-$REPO/.whl}
SITE=${GPU_SUITE_SITE:-/tmp/gpu-suite-site}
SUITE=benchmarks.tools.gpu_suite
SKIPPED=3 # benchmarks.tools.gpu_suite.EXIT_SKIPPED
export PYTHONPATH="$SITE:$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# The dry run checks code paths, not speed: one thread, where a shared 2-core machine's
# thread pools would otherwise spin (8 ms for a 16 us unpool seen here with two).
[ "$QUICK" = 1 ] && export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
for stale in status bench env.json summary.md {env,crosscheck,spec_timing,tv_timing,unpool}.md \
    {spec_timing,tv_timing}.jsonl [1-8]-*.log; do
    rm -rf "${OUT:?}/"$stale # a rerun into the same folder starts clean
done
mkdir -p "$OUT/status"
START=$SECONDS

left() { echo $((BUDGET - (SECONDS - START))); }

# watch CAP LOG CMD...: CMD in a session of its own; it and its children die after CAP s.
watch() {
    local cap=$1 log=$2 ticks=0 pid
    shift 2
    : >"$log"
    setsid "$@" >>"$log" 2>&1 </dev/null & # appending, so the kill note below stays last
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$ticks" -ge $((cap * 4)) ]; then
            echo "gpu_suite: killed at its limit of ${cap} s" >>"$log"
            kill -TERM -- "-$pid" 2>/dev/null
            for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null && sleep 0.5; done
            kill -KILL -- "-$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            return 124
        fi
        sleep 0.25
        ticks=$((ticks + 1))
    done
    wait "$pid"
}

# record NAME KEY=VALUE...: the part's status file, read by the summary.
record() {
    local name=$1
    shift
    printf '%s\n' "$@" >"$OUT/status/$name"
}

# part NAME CAP [--dry REASON] [--note NOTE] -- CMD...: run one part. @BUDGET@ in CMD
# becomes the seconds the part may plan for (its limit less a margin). --dry: the part
# cannot really run here (REASON) and CMD is its CPU dry run; --note: how it ran.
part() {
    local name=$1 cap=$2 dry="" note="" rc t0=$SECONDS room args=()
    shift 2
    while [ "$1" != -- ]; do
        case $1 in
        --dry) dry=$2 ;;
        --note) note=$2 ;;
        esac
        shift 2
    done
    shift
    room=$(($(left) - 5))
    [ "$cap" -gt "$room" ] && cap=$room
    if [ "$cap" -lt 10 ]; then
        record "$name" state=skipped "reason=suite budget of ${BUDGET} s spent" seconds=0
        return
    fi
    for arg in "$@"; do args+=("${arg//@BUDGET@/$((cap * 85 / 100 - 10))}"); done
    local shown="${args[*]}"
    printf '== %s (limit %s s): %.150s\n' "$name" "$cap" "${shown//$'\n'/ }"
    watch "$cap" "$OUT/$name.log" "${args[@]}"
    rc=$?
    local common=("seconds=$((SECONDS - t0))" "rc=$rc" "cap=$cap" "note=$note")
    if [ -n "$dry" ]; then
        local how=ok
        [ $rc -eq 124 ] && how="timed out"
        [ $rc -ne 0 ] && [ $rc -ne 124 ] && how="exit $rc"
        record "$name" state=skipped "reason=$dry" "dry=$how" "${common[@]}"
    elif [ $rc -eq 0 ]; then
        record "$name" state=ok "${common[@]}"
    elif [ $rc -eq $SKIPPED ]; then
        local why
        why=$(tail -n 1 "$OUT/$name.log" | sed 's/^skipped: //') # the module's last line
        record "$name" state=skipped "reason=$why" "${common[@]}"
    elif [ $rc -eq 124 ]; then
        record "$name" state=timeout "${common[@]}"
    else
        record "$name" state=failed "${common[@]}"
    fi
    echo "   $name: $(head -n 1 "$OUT/status/$name") (rc $rc, $((SECONDS - t0)) s)"
}

# Part 4's command: the suite as CI runs it, on its own cores with CUDA hidden, -x, xdist
# workers and a per-test limit where the plugins are there.
tests_command() {
    local workers=$1 cmd=(env CUDA_VISIBLE_DEVICES= "$PY" -m pytest -q -x -p no:cacheprovider)
    "$PY" -c 'import xdist' 2>/dev/null && [ "$workers" -gt 1 ] && cmd+=(-n "$workers")
    "$PY" -c 'import pytest_timeout' 2>/dev/null && cmd+=(--timeout=300)
    echo "${cmd[@]}"
}

# Part 8's dry run: the options the GPU run passes are all in `graphspec bench --help`.
# shellcheck disable=SC2016  # expanded by the inner bash
BENCH_OPTIONS='help=$("$1" -m graphspec.cli bench --help) || exit 1
for option in --device --compile --epochs --limit --out; do
    grep -q -e "$option" <<<"$help" || { echo "graphspec bench has no $option"; exit 1; }
done
echo "graphspec bench takes --device --compile --epochs --limit --out"'

echo "GPU suite: out $OUT, python $PY, budget ${BUDGET} s, quick=$QUICK"
part 1-install 120 -- \
    bash "$REPO/benchmarks/tools/gpu_suite/install.sh" "$PY" "$WHEELS" "$SITE" "$OUT"
CUDA=0
if [ -f "$OUT/env.json" ]; then
    grep -q '"cuda_available": true' "$OUT/env.json" && CUDA=1
else
    "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null && CUDA=1
fi

CORES=$(nproc 2>/dev/null || echo 2)
TESTS_CAP=${GPU_SUITE_TESTS_S:-360}
TESTS_PID=""
if [ "$QUICK" = 1 ]; then
    record 4-tests state=skipped "reason=quick mode (GPU_SUITE_QUICK=1)" seconds=0
elif [ "${GPU_SUITE_SERIAL:-0}" != 1 ] && [ "$CORES" -ge 8 ] && command -v taskset >/dev/null; then
    side=$((CORES * 3 / 8)) # part 4's cores, the last ones; the GPU parts keep the rest
    read -r -a tests <<<"$(tests_command "${GPU_SUITE_TEST_WORKERS:-$side}")"
    cap=$(($(left) - 20 < TESTS_CAP ? $(left) - 20 : TESTS_CAP))
    part 4-tests "$cap" --note "beside the GPU parts, $side cores" \
        -- taskset -c "$((CORES - side))-$((CORES - 1))" "${tests[@]}" &
    TESTS_PID=$!
    taskset -pc "0-$((CORES - side - 1))" $$ >/dev/null
fi

if [ $CUDA = 1 ]; then
    # 2, 3 and 8 only check that things work, so they share the GPU; 7, 5 and 6 time, alone.
    gpu_tests=("$PY" -m pytest -q -m gpu -p no:cacheprovider)
    "$PY" -c 'import xdist' 2>/dev/null && gpu_tests+=(-n 4)
    part 2-gpu-tests 150 -- "${gpu_tests[@]}" &
    checks=($!)
    part 3-crosscheck 60 -- "$PY" -m $SUITE.crosscheck --out "$OUT" --reference torchvision &
    checks+=($!)
    part 8-bench 150 -- "$PY" -m graphspec.cli bench specs/unet-small.yaml specs/ssd-small.yaml \
        --device cuda --compile --epochs 2 --limit 64 --out "$OUT/bench" &
    checks+=($!)
    wait "${checks[@]}"
    part 7-unpool 60 -- "$PY" -m $SUITE.unpool --out "$OUT"
    part 5-spec-timing $(($(left) - 110)) -- \
        "$PY" -m $SUITE.spec_timing --out "$OUT" --budget-s @BUDGET@
    part 6-tv-timing 150 -- "$PY" -m $SUITE.tv_timing --out "$OUT" --budget-s @BUDGET@
else
    record 2-gpu-tests state=skipped "reason=no CUDA" seconds=0
    part 3-crosscheck 60 --dry "no CUDA" -- "$PY" -m $SUITE.crosscheck --out "$OUT" --quick
    part 7-unpool 60 --note "CPU, --quick" -- "$PY" -m $SUITE.unpool --out "$OUT" --quick
    part 8-bench 60 --dry "no CUDA" -- bash -c "$BENCH_OPTIONS" bench-options "$PY"
    part 5-spec-timing 120 --dry "no CUDA" -- "$PY" -m $SUITE.spec_timing --out "$OUT" --quick
    record 6-tv-timing state=skipped "reason=no CUDA" seconds=0
fi

if [ -n "$TESTS_PID" ]; then
    wait "$TESTS_PID"
elif [ "$QUICK" != 1 ]; then
    read -r -a tests <<<"$(tests_command "${GPU_SUITE_TEST_WORKERS:-$CORES}")"
    part 4-tests "$TESTS_CAP" --note "after the GPU parts" -- "${tests[@]}"
fi

echo "== summary ($((SECONDS - START)) s)"
if "$PY" -m $SUITE.summary "$OUT"; then
    exit 0
elif [ -f "$OUT/summary.md" ]; then
    exit 1
fi
echo "summary.py failed: the raw states" | tee "$OUT/summary.md"
for status in "$OUT"/status/*; do
    echo "$(basename "$status"): $(tr '\n' ' ' <"$status")"
done | tee -a "$OUT/summary.md"
exit 1
