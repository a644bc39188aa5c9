#!/usr/bin/env bash
# What it costs to add one package to a yum repository that already holds N
# packages and republish its metadata (primary/filelists/other, repomd.xml
# and its detached signature): artifactd beside createrepo_c --update on the
# same rpmbuild-built packages, in the same run.
# Target for artifactd: <= 200 ms at 10,000 packages.
#
#   tests/bench/rpm-publish.sh                 -> tests/bench/results/rpm-publish.txt
#   SIZES="10000" ROUNDS=5 tests/bench/rpm-publish.sh
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$ROOT/tests/services.sh"
ensure_packages rpm createrepo-c gnupg curl
build_release

SIZES=${SIZES:-"10000"}
ROUNDS=${ROUNDS:-5}
WORK=$(mktemp -d /tmp/artifactd-bench-rpm.XXXXXX)
trap 'kill ${ARTIFACTD_PID:-} 2>/dev/null; rm -rf "$WORK"' EXIT

export GNUPGHOME="$WORK/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'bench <bench@example.invalid>' ed25519 sign never 2>/dev/null

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
now_ms() { date +%s%3N; }

out="$RESULTS/rpm-publish.txt"
{
  echo "# Add one package to a yum repository of N and republish, same rpms, same run ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo "# median of $ROUNDS rounds, milliseconds; artifactd: release build, SQLite + local storage, Ed25519 key"
  echo "# artifactd 'publish' is the server's own publish time (render, sign, store, flip); 'upload' is the"
  echo "# whole /addpkg round trip until the package is published"
  echo "# createrepo_c --update (with and without its sqlite databases), then gpg --detach-sign of repomd.xml"
  printf "%8s %18s %18s %18s %22s\n" N artifactd_publish artifactd_upload createrepo_c createrepo_c_no_db
} >"$out"

for N in $SIZES; do
  echo "== N=$N: building packages with rpmbuild"
  gen_rpms "$WORK/seed-$N" bench "$N"
  gen_rpms "$WORK/extra-$N" extra "$ROUNDS"
  mapfile -t extras < <(ls "$WORK/extra-$N/rpms"/*.rpm)
  [ "$(ls "$WORK/seed-$N/rpms" | wc -l)" -eq "$N" ] || { echo "built the wrong number of rpms" >&2; exit 1; }

  echo "== artifactd: seeding $N packages"
  port=$(free_port)
  start_artifactd "$WORK/a-$N" "$port" ARTIFACTD_LOG=info
  base="http://127.0.0.1:$port"
  # 100 packages per request: seeding is not what is measured.
  find "$WORK/seed-$N/rpms" -name '*.rpm' -print0 | xargs -0 -n 100 -P 2 sh -c '
    token=$0; base=$1; shift
    args=""; for f; do args="$args -F f=@$f"; done
    curl -fsS -o /dev/null -H "Authorization: Bearer $token" $args "$base/addpkg?provider=rpm&reponame=bench&dist=el9&wait=0"
  ' "$BENCH_TOKEN" "$base"
  until curl -fsS "$base/api/v1/repos/rpm/bench" | python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit(r["published_seq"] != r["change_seq"])'; do sleep 0.5; done
  pub=(); up=()
  for rpm in "${extras[@]}"; do
    t0=$(now_ms)
    curl -fsS -o /dev/null -H "Authorization: Bearer $BENCH_TOKEN" -F "f=@$rpm" "$base/addpkg?provider=rpm&reponame=bench&dist=el9"
    up+=($(( $(now_ms) - t0 )))
    pub+=("$(grep 'published' "$WORK/a-$N/server.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g' | sed -n 's/.*ms=\([0-9]*\).*/\1/p')")
  done
  count=$(curl -fsS "$base/repo/rpm/bench/el9/repodata/repomd.xml" | sed -n 's/.*href="\(repodata\/[^"]*primary.xml.gz\)".*/\1/p' \
    | xargs -I{} curl -fsS "$base/repo/rpm/bench/el9/{}" | zcat | grep -c '<package type="rpm">')
  [ "$count" -eq $((N + ROUNDS)) ] || { echo "primary lists $count packages, expected $((N + ROUNDS))" >&2; exit 1; }
  kill "$ARTIFACTD_PID"; wait "$ARTIFACTD_PID" 2>/dev/null || true
  a_pub=$(printf '%s\n' "${pub[@]}" | median); a_up=$(printf '%s\n' "${up[@]}" | median)

  for mode in db no-db; do
    echo "== createrepo_c ($mode): seeding"
    C="$WORK/createrepo-$mode"; mkdir -p "$C"
    cp "$WORK/seed-$N/rpms"/*.rpm "$C/"
    flags=(--quiet --workers "$(nproc)"); [ "$mode" = no-db ] && flags+=(--no-database)
    createrepo_c "${flags[@]}" "$C"
    times=()
    for rpm in "${extras[@]}"; do
      cp "$rpm" "$C/"
      t0=$(now_ms)
      createrepo_c "${flags[@]}" --update "$C"
      gpg --batch --yes --armor --detach-sign "$C/repodata/repomd.xml"
      times+=($(( $(now_ms) - t0 )))
    done
    printf '%s\n' "${times[@]}" | median >"$WORK/cr-$mode"
    rm -rf "$C"
  done

  printf "%8s %18s %18s %18s %22s\n" "$N" "$a_pub" "$a_up" "$(cat "$WORK/cr-db")" "$(cat "$WORK/cr-no-db")" >>"$out"
  rm -rf "$WORK/seed-$N" "$WORK/extra-$N" "$WORK/a-$N"
done
cat "$out"
