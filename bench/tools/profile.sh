#!/usr/bin/env bash
# Where does the write path's CPU go? Runs one `writes` level, attaches perf (cpu-clock
# sampling, DWARF stacks: the release profile keeps line tables, not frame pointers) to the
# node processes for a few seconds inside the measurement window, and prints the samples
# grouped by component (bench/tools/classify.py).
#
#   cargo build --release -p authd-node -p authd-bench
#   bench/tools/profile.sh [CLIENTS (64)] [SECONDS (6)] [extra authd-bench args, e.g. --nodes 1]
#
# Needs perf (Debian: apt-get install -y linux-perf) and python3. OUT=dir keeps the files.
set -euo pipefail
clients=${1:-64}
secs=${2:-6}
shift $(( $# > 2 ? 2 : $# )) || true
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUT:-$(mktemp -d)}
command -v perf >/dev/null || { echo "perf is missing (apt-get install -y linux-perf)" >&2; exit 1; }
bin="$root/target/release/authd-bench"
[ -x "$bin" ] || { echo "build it first: cargo build --release -p authd-node -p authd-bench" >&2; exit 1; }

"$bin" writes --runs 1 --clients "$clients" --duration $((secs + 8)) --quiet-max 5 --out "$out" "$@" \
  >"$out/bench.log" 2>&1 &
bench=$!
# The nodes appear after the quiet wait and the 3 s fsync baseline; the window opens after the
# user is created and the 2 s warm-up.
for _ in $(seq 1 300); do
  pids=$(pgrep -P "$bench" -d, authd || true)
  [ -n "$pids" ] && break
  sleep 0.1
done
[ -n "$pids" ] || { echo "no authd node appeared; see $out/bench.log" >&2; exit 1; }
sleep 4
pids=$(pgrep -P "$bench" -d, authd)
echo "perf: nodes $pids, $secs s" >&2
perf record -q -e cpu-clock -F 299 --call-graph dwarf,32768 -p "$pids" -o "$out/perf.data" -- sleep "$secs"
wait "$bench" || { echo "authd-bench failed; see $out/bench.log" >&2; exit 1; }
grep 'clients:' "$out/bench.log" >&2 || true
perf script -i "$out/perf.data" -F comm,tid,sym,ip >"$out/perf.txt" 2>/dev/null
python3 "$here/classify.py" "$out/perf.txt"
echo "files in $out (perf.data, perf.txt, writes.md)" >&2
