#!/usr/bin/env bash
# Real-kernel tests: for each kernel (6.1, 6.12) one guest boot that runs every test/kernel/*.ktest.ts
# with vitest (vitest.kernel.config.ts). Writes .cache/results/kernel-<k>.json (vitest JSON, read by
# scripts/test-summary.mjs) and .cache/results/kernel-<k>.log, prints a per-kernel summary and exits
# non-zero if anything failed.
#
#   test/kernel/run-tests.sh [--serial|--parallel] [6.1] [6.12] [-- <vitest args, e.g. a file filter>]
#
# With two or more CPUs both kernels boot at once (one core each, single-threaded TCG): the first
# kernel's output streams live, the other's is printed when it is done. --serial (or
# XFRMD_KERNEL_PARALLEL=0) runs them one after the other, both live.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo" || exit 1
results=$repo/.cache/results
parallel=${XFRMD_KERNEL_PARALLEL:-$([ "$(nproc 2>/dev/null || echo 1)" -ge 2 ] && echo 1 || echo 0)}
kernels=()
while [ $# -gt 0 ]; do
  case $1 in
    6.1|6.12) kernels+=("$1"); shift ;;
    --parallel) parallel=1; shift ;;
    --serial) parallel=0; shift ;;
    --) shift; break ;;
    *) echo "run-tests.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ ${#kernels[@]} -gt 0 ] || kernels=(6.1 6.12)
vitest_args=("$@")

t0=$SECONDS
"$here/setup.sh" "${kernels[@]}" || { echo "run-tests.sh: setup failed" >&2; exit 1; }
setup_s=$((SECONDS - t0))
mkdir -p "$results"
if [ ! -f node_modules/vitest/vitest.mjs ]; then
  echo "run-tests.sh: node_modules/vitest missing (npm ci)" >&2; exit 1
fi

run_kernel() { # <k>: one boot running all guest tests
  local k=$1
  rm -f "$results/kernel-$k.json" "$results/kernel-$k.stats"
  XFRMD_GUEST_STATS=$results/kernel-$k.stats XFRMD_GUEST_VERBOSE=1 \
    "$here/guest.sh" --kernel "$k" -- \
    node node_modules/vitest/vitest.mjs run --config vitest.kernel.config.ts \
      --reporter=default --reporter=json --outputFile.json="$results/kernel-$k.json" "${vitest_args[@]}"
}

declare -A rcs
if [ "$parallel" = 1 ] && [ ${#kernels[@]} -gt 1 ]; then
  declare -A pids
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; exit 130' INT TERM
  first=${kernels[0]}
  for k in "${kernels[@]:1}"; do
    run_kernel "$k" > "$results/kernel-$k.log" 2>&1 & pids[$k]=$!
  done
  echo "=== kernel $first (live; ${kernels[*]:1} in parallel, shown after) ==="
  run_kernel "$first" 2>&1 | tee "$results/kernel-$first.log"
  rcs[$first]=${PIPESTATUS[0]}
  for k in "${kernels[@]:1}"; do
    wait "${pids[$k]}"; rcs[$k]=$?
    echo "=== kernel $k ==="
    cat "$results/kernel-$k.log"
  done
else
  for k in "${kernels[@]}"; do
    echo "=== kernel $k ==="
    run_kernel "$k" 2>&1 | tee "$results/kernel-$k.log"
    rcs[$k]=${PIPESTATUS[0]}
  done
fi

# Summary; a guest that produced no report counts as one failed test so the overall summary sees it.
status=0
echo
echo "=== real-kernel tests (setup ${setup_s} s, total $((SECONDS - t0)) s) ==="
for k in "${kernels[@]}"; do
  rc=${rcs[$k]}
  stats=$results/kernel-$k.stats
  release=$(sed -n 's/^release=//p' "$stats" 2>/dev/null); boot=$(sed -n 's/^boot=//p' "$stats" 2>/dev/null)
  total=$(sed -n 's/^total=//p' "$stats" 2>/dev/null); attempts=$(sed -n 's/^attempts=//p' "$stats" 2>/dev/null)
  json=$results/kernel-$k.json
  if [ -s "$json" ]; then
    counts=$(node -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + (r.numTodoTests ?? 0)} skipped`);
    ' "$json")
  else
    counts="no test report (guest exit $rc)"
    printf '{"numTotalTests":1,"numPassedTests":0,"numFailedTests":1,"numPendingTests":0,"numTodoTests":0,"success":false,"testResults":[],"note":"guest for kernel %s produced no report (exit %s)"}\n' \
      "$k" "$rc" > "$json"
  fi
  [ "$rc" = 0 ] || status=1
  printf '%-5s %-22s %s  [exit %s, boot %s s, run %s s%s]\n' "$k" "${release:-?}" "$counts" "$rc" "${boot:-?}" "${total:-?}" \
    "$([ "${attempts:-1}" -gt 1 ] 2>/dev/null && echo ", $attempts boots")"
done
[ "$status" = 0 ] && echo "real-kernel tests: OK" || echo "real-kernel tests: FAILED"
exit "$status"
