#!/usr/bin/env bash
# What a CI pipeline that uploads one tarball per job costs: N single-file
# tar uploads into one repository from 4 parallel clients, each waiting for
# its publish (default wait), default grace period (every superseded set is
# kept). Records, per batch of 1,000 uploads, the rate; at the end the
# server's peak RSS, the SQLite file, the index objects and the data
# directory. Embedded defaults (SQLite + local storage), release build.
#
#   tests/bench/tar-history.sh          -> tests/bench/results/tar-history.txt
#   N=2000 tests/bench/tar-history.sh
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$ROOT/tests/services.sh"
ensure_packages curl
build_release

N=${N:-10000}
BATCH=1000
PORT=${PORT:-18431}
WORK=$(mktemp -d /tmp/artifactd-bench-tarhist.XXXXXX)
trap 'kill ${ARTIFACTD_PID:-} 2>/dev/null; rm -rf "$WORK"' EXIT
BASE="http://127.0.0.1:$PORT"

echo "== generating $N archives"
python3 - "$WORK/tars" "$N" <<'PY'
import io, os, sys, tarfile
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
for i in range(n):
    data = f"build {i}\n".encode() * 20
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo(f"job{i:05d}/out.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    open(os.path.join(out, f"job{i:05d}-1.0.tar"), "wb").write(buf.getvalue())
PY
tar_bytes=$(find "$WORK/tars" -name '*.tar' -printf '%s\n' | awk '{ s += $1 } END { print s }')

start_artifactd "$WORK/data" "$PORT"
now_ms() { date +%s%3N; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

out="$RESULTS/tar-history.txt"
{
  echo "# N single-file tar uploads into one repository, 4 parallel clients, default wait and grace ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo "# artifactd release build, embedded defaults (SQLite + local storage); archives: $tar_bytes bytes"
  printf "%-14s %10s %10s\n" batch seconds uploads/s
} >"$out"

ls "$WORK/tars" | sort >"$WORK/list"
total_start=$(now_ms)
for ((b = 0; b * BATCH < N; b++)); do
  t0=$(now_ms)
  sed -n "$((b * BATCH + 1)),$(((b + 1) * BATCH))p" "$WORK/list" |
    xargs -P 4 -I{} curl -fsS -o /dev/null -H "Authorization: Bearer $BENCH_TOKEN" \
      -F "f=@$WORK/tars/{}" "$BASE/addpkg?provider=tar&reponame=ci"
  t1=$(now_ms)
  n=$(( (b + 1) * BATCH > N ? N - b * BATCH : BATCH ))
  awk -v b="$((b * BATCH))-$((b * BATCH + n))" -v ms="$((t1 - t0))" -v n="$n" \
    'BEGIN { printf "%-14s %10.1f %10.0f\n", b, ms / 1000, n * 1000 / ms }' | tee -a "$out"
done
total_ms=$(( $(now_ms) - total_start ))
rss=$(peak_rss_mib "$ARTIFACTD_PID")
db=$(du -cb "$WORK/data"/*.db* | tail -1 | cut -f1)
index=$(du -sb "$WORK/data/blobs/index" | cut -f1)
objects=$(find "$WORK/data/blobs/index" -type f | wc -l)
data=$(du -sb "$WORK/data" | cut -f1)
{
  echo
  echo "uploads: $N in $(awk -v ms="$total_ms" 'BEGIN { printf "%.1f", ms / 1000 }') s ($(awk -v ms="$total_ms" -v n="$N" 'BEGIN { printf "%.0f", n * 1000 / ms }')/s)"
  echo "peak RSS: $rss MiB"
  echo "SQLite (with WAL): $(mib "$db") MiB"
  echo "index objects: $objects, $(mib "$index") MiB"
  echo "data directory: $(mib "$data") MiB"
} | tee -a "$out"
