#!/usr/bin/env bash
# Where does the CPU go? Runs one level of a scenario, attaches perf (cpu-clock sampling, DWARF
# stacks: the release profile keeps line tables, not frame pointers) to the node processes for
# a few seconds inside the measurement window, and prints the samples grouped by component
# (bench/tools/classify.py).
#
#   cargo build --release -p authd-node -p authd-bench
#   bench/tools/profile.sh [CLIENTS (64)] [SECONDS (6)] [extra authd-bench args, e.g. --nodes 1]
#   bench/tools/profile.sh auth [CONNS (64)] [SECONDS (6)] [extra args]   # GET /auth, closed loop
#
# Needs perf (Debian: apt-get install -y linux-perf) and python3. OUT=dir keeps the files.
set -euo pipefail
scenario=writes
if [ "${1:-}" = auth ]; then scenario=auth; shift; fi
clients=${1:-64}
secs=${2:-6}
shift $(( $# > 2 ? 2 : $# )) || true
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
command -v perf >/dev/null || { echo "perf is missing (apt-get install -y linux-perf)" >&2; exit 1; }
bin="$root/target/release/authd-bench"
[ -x "$bin" ] || { echo "build it first: cargo build --release -p authd-node -p authd-bench" >&2; exit 1; }

if [ "$scenario" = auth ]; then
  # authd alone (no ceiling, no open-loop level); perf starts once the window is open.
  "$bin" auth --runs 1 --conns "$clients" --duration $((secs + 4)) --no-ceiling --open-fraction 0 \
    --quiet-max 5 --retry-disturbed 0 --out "$out" "$@" >"$out/bench.log" 2>&1 &
else
  "$bin" writes --runs 1 --clients "$clients" --duration $((secs + 8)) --quiet-max 5 --out "$out" "$@" \
    >"$out/bench.log" 2>&1 &
fi
bench=$!
# The nodes appear after the quiet wait and the 3 s fsync baseline; the window opens after the
# user is created and the 2 s warm-up.
for _ in $(seq 1 300); do
  pids=$(pgrep -x -P "$bench" -d, authd || true)
  [ -n "$pids" ] && break
  sleep 0.1
done
[ -n "$pids" ] || { echo "no authd node appeared; see $out/bench.log" >&2; exit 1; }
if [ "$scenario" = auth ]; then
  for _ in $(seq 1 600); do grep -q 'window open' "$out/bench.log" && break; sleep 0.1; done
  sleep 1
else
  sleep 4
fi
pids=$(pgrep -x -P "$bench" -d, authd)
echo "perf: nodes $pids, $secs s" >&2
perf record -q -e cpu-clock -F 299 --call-graph dwarf,32768 -p "$pids" -o "$out/perf.data" -- sleep "$secs"
wait "$bench" || { echo "authd-bench failed; see $out/bench.log" >&2; exit 1; }
grep -E 'clients:|req/s' "$out/bench.log" >&2 || true
perf script -i "$out/perf.data" -F comm,tid,sym,ip >"$out/perf.txt" 2>/dev/null
python3 "$here/classify.py" "$out/perf.txt" "$scenario"
echo "files in $out (perf.data, perf.txt, $scenario.md)" >&2
