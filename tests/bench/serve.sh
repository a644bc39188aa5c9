#!/usr/bin/env bash
# Serving speed against nginx on the same files, in the same run, with wrk:
# a ~19 KB index file (requests/s) and a 4 MiB package file (MiB/s).
# Targets: at least 50% of nginx's request rate for the index file and 70% of
# its throughput for the package file.
#
#   tests/bench/serve.sh             -> tests/bench/results/serve.txt
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$ROOT/tests/services.sh"
ensure_packages nginx-light wrk curl
build_release

WORK=$(mktemp -d /tmp/artifactd-bench-serve.XXXXXX)
chmod 755 "$WORK"  # nginx workers run as www-data
trap 'kill ${ARTIFACTD_PID:-} ${NGINX_PID:-} 2>/dev/null; rm -rf "$WORK"' EXIT
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}

port=$(free_port)
start_artifactd "$WORK/a" "$port"
base="http://127.0.0.1:$port"
auth=(-H "Authorization: Bearer $BENCH_TOKEN")

# The package file: a tar of 4 MiB of random bytes (4 MiB + 10 KiB of tar framing).
mkdir -p "$WORK/src"
head -c $((4 << 20)) /dev/urandom >"$WORK/src/blob.bin"
tar -C "$WORK/src" -cf "$WORK/pkg-1.0.tar" blob.bin
curl -fsS "${auth[@]}" -F "f=@$WORK/pkg-1.0.tar" "$base/addpkg?provider=tar&reponame=bench" >/dev/null
# Enough small packages that the repository's index.json is about 19 KB.
printf 'x' >"$WORK/src/x"
tar -C "$WORK/src" -cf "$WORK/small.tar" x
i=0
while [ "$(curl -fsS "$base/repo/tar/bench/index.json" | wc -c)" -lt 19000 ]; do
  i=$((i + 1))
  curl -fsS "${auth[@]}" -F "f=@$WORK/small.tar;filename=tool$i-1.$i.tar" "$base/addpkg?provider=tar&reponame=bench" >/dev/null
done

# nginx serves byte-identical copies.
mkdir -p "$WORK/www"
curl -fsS "$base/repo/tar/bench/index.json" -o "$WORK/www/index.json"
cp "$WORK/pkg-1.0.tar" "$WORK/www/pkg.tar"
nport=$(free_port)
cat >"$WORK/nginx.conf" <<NGINX
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  server {
    listen 127.0.0.1:$nport;
    root $WORK/www;
  }
}
NGINX
nginx -c "$WORK/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
sleep 0.5
# Both servers must answer 200 with the same bytes, or the numbers mean nothing.
for pair in "repo/tar/bench/index.json index.json" "repo/tar/bench/pkg/1.0/pkg-1.0.tar pkg.tar"; do
  set -- $pair
  cmp <(curl -fsS "$base/$1") <(curl -fsS "http://127.0.0.1:$nport/$2") || { echo "artifactd and nginx differ on $2" >&2; exit 1; }
done

small_size=$(stat -c %s "$WORK/www/index.json")
bench() { # URL -> "req/s MiB/s"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" "$1" | awk '
    /Requests\/sec/ { rps = $2 }
    /Transfer\/sec/ { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[A-Za-z]+/, "", v);
      if (u == "GB") v *= 1024; if (u == "KB") v /= 1024; if (u == "B") v /= 1048576; mib = v }
    END { printf "%.0f %.1f\n", rps, mib }'
}
read -r a_small_rps _ < <(bench "$base/repo/tar/bench/index.json")
read -r n_small_rps _ < <(bench "http://127.0.0.1:$nport/index.json")
read -r _ a_big_mib < <(bench "$base/repo/tar/bench/pkg/1.0/pkg-1.0.tar")
read -r _ n_big_mib < <(bench "http://127.0.0.1:$nport/pkg.tar")

out="$RESULTS/serve.txt"
{
  echo "# Serving speed, artifactd vs nginx, same files, same run ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo "# wrk -t2 -c$CONNECTIONS -d$DURATION; artifactd release build, SQLite + local storage"
  echo "# targets: index file >= 50% of nginx req/s; package file >= 70% of nginx MiB/s"
  printf "%-34s %12s %12s %8s\n" case artifactd nginx ratio
  awk -v a="$a_small_rps" -v n="$n_small_rps" -v s="$small_size" 'BEGIN { printf "%-34s %12.0f %12.0f %7.0f%%\n", "index.json (" s " B), req/s", a, n, 100*a/n }'
  awk -v a="$a_big_mib" -v n="$n_big_mib" 'BEGIN { printf "%-34s %12.1f %12.1f %7.0f%%\n", "4 MiB package file (tar), MiB/s", a, n, 100*a/n }'
} >"$out"
cat "$out"
