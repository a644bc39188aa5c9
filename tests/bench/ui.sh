#!/usr/bin/env bash
# Web UI pages of a 10,000-package repository (tar; every tenth package has a
# second version), release build, SQLite + local storage. Latency as a
# browser asks (Accept: text/html), one connection, wrk's median and 99th
# percentile; target: a page "well under 100 ms".
#   - the repository page (page 1 by name, a deep page sorted by size,
#     a name filter), a package page, a search across repositories, the
#     file listing of the repository root (10,000 directories, one page);
#   - the first repository page after an upload (the catalog is rebuilt):
#     curl's total time, median of 5 rounds.
#
#   tests/bench/ui.sh              -> tests/bench/results/ui.txt
#   N=2000 tests/bench/ui.sh
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$ROOT/tests/services.sh"
ensure_packages wrk curl
build_release

N=${N:-10000}
DURATION=${DURATION:-5s}
WORK=$(mktemp -d /tmp/artifactd-bench-ui.XXXXXX)
trap 'kill ${ARTIFACTD_PID:-} 2>/dev/null; rm -rf "$WORK"' EXIT
ACCEPT="Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

port=$(free_port)
start_artifactd "$WORK/a" "$port"
base="http://127.0.0.1:$port"
echo "== seeding $N packages"
python3 "$ROOT/tests/bench/ui_seed.py" "$base" "$BENCH_TOKEN" bench "$N"
count=$(curl -fsS -H "$ACCEPT" "$base/repos/tar/bench" | sed -n 's/.*id="package-count">\([0-9]*\)<.*/\1/p')
[ "$count" = "$N" ] || { echo "the repository page counts $count packages, expected $N" >&2; exit 1; }
rss_seeded=$(peak_rss_mib "$ARTIFACTD_PID")

# latency PATH: "median p99" in ms over one connection.
latency() {
  wrk -t1 -c1 -d"$DURATION" --latency -H "$ACCEPT" "$base$1" |
    awk 'function ms(v) { if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 } if (v ~ /ms$/) { sub(/ms$/, "", v); return v } sub(/s$/, "", v); return v * 1000 }
         $1 == "50%" { m = ms($2) } $1 == "99%" { p = ms($2) } END { printf "%.2f %.2f", m, p }'
}

rows=()
for page in "repository page 1|/repos/tar/bench" \
            "sorted by size, page 100|/repos/tar/bench?sort=size&page=100" \
            "filtered by name|/repos/tar/bench?q=pkg-012" \
            "package page|/repos/tar/bench/packages/pkg-05000" \
            "search|/search?q=pkg-0999" \
            "file listing of the root|/repos/tar/bench/files/"; do
  label=${page%%|*}; path=${page#*|}
  bytes=$(curl -fsS -H "$ACCEPT" "$base$path" | wc -c)
  echo "== $label ($bytes bytes)"
  rows+=("$(printf '%-28s %8s %10s %8s' "$label" "$bytes" $(latency "$path"))")
done

rss_pages=$(peak_rss_mib "$ARTIFACTD_PID")
echo "== first page after an upload (catalog rebuilt)"
cold=()
for i in 1 2 3 4 5; do
  python3 -c 'import io,tarfile,sys; b=io.BytesIO(); t=tarfile.open(fileobj=b,mode="w"); i=tarfile.TarInfo("f"); t.addfile(i, io.BytesIO(b"")); t.close(); sys.stdout.buffer.write(b.getvalue())' >"$WORK/new-$i-1.0.tar"
  curl -fsS -o /dev/null -H "Authorization: Bearer $BENCH_TOKEN" -F "f=@$WORK/new-$i-1.0.tar" "$base/addpkg?provider=tar&reponame=bench"
  cold+=("$(curl -fsS -o /dev/null -w '%{time_total}' -H "$ACCEPT" "$base/repos/tar/bench" | awk '{ printf "%.2f", $1 * 1000 }')")
done
cold_median=$(printf '%s\n' "${cold[@]}" | sort -n | sed -n 3p)
rss=$(peak_rss_mib "$ARTIFACTD_PID")

mkdir -p "$RESULTS"
{
  echo "# Web UI pages of a $N-package tar repository ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo "# release build, SQLite + local storage; wrk, one connection, $DURATION per page, Accept: text/html"
  echo "# page                            bytes  median_ms   p99_ms"
  printf '%s\n' "${rows[@]}"
  echo "# first repository page after an upload (catalog rebuilt), curl total, median of 5: ${cold_median} ms (${cold[*]})"
  echo "# peak RSS of the server: ${rss_seeded} MiB after seeding (publishing $N tar packages), ${rss_pages} MiB"
  echo "# after the page requests, ${rss} MiB after the 5 more uploads (each publishes the whole repository)"
} | tee "$RESULTS/ui.txt"
