# Sourced by tests/run and the bench scripts: installs what the tests need on
# a fresh Debian 12 machine and starts MariaDB and an S3 server (s3s-fs) on
# 127.0.0.1 in a private directory, without systemd.
#
# After `start_services DIR`, these are exported:
#   ARTIFACTD_TEST_MYSQL_URL  mysql://USER:PASS@127.0.0.1:PORT  (may create databases)
#   ARTIFACTD_TEST_S3_URL     http://KEY:SECRET@127.0.0.1:PORT/BUCKET
#   ARTIFACTD_TEST_PYTOOLS    a virtualenv with twine and uv
# `stop_services` ends both.

S3S_VERSION=0.14.1

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ensure_packages DEB... : apt-get install whatever is missing.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

ensure_s3s() {
  if ! command -v s3s-fs >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/s3s-fs" ]; then
    echo "== building s3s-fs $S3S_VERSION (about 2 minutes, once per machine)"
    cargo install "s3s-fs@$S3S_VERSION" --features binary --locked --quiet
  fi
  export PATH="$HOME/.cargo/bin:$PATH"
}

# The Python clients the pypi tests drive (pip comes with each venv). Pinned,
# installed once per machine into a cached virtualenv.
PYTOOLS_PINS="twine==7.0.0 uv==0.13.8"

ensure_python_tools() {
  local dir="${ARTIFACTD_PYTOOLS_DIR:-$HOME/.cache/artifactd-tests/pytools}"
  if [ "$(cat "$dir/.pins" 2>/dev/null)" != "$PYTOOLS_PINS" ]; then
    echo "== installing $PYTOOLS_PINS into $dir"
    rm -rf "$dir"
    python3 -m venv "$dir" 2>/dev/null || { ensure_packages python3-venv; python3 -m venv "$dir"; }
    # shellcheck disable=SC2086
    "$dir/bin/pip" install --quiet --disable-pip-version-check $PYTOOLS_PINS
    echo "$PYTOOLS_PINS" >"$dir/.pins"
  fi
  export ARTIFACTD_TEST_PYTOOLS="$dir"
}

wait_for_port() { # PORT SECONDS NAME
  local i
  for i in $(seq 1 $(($2 * 10))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$3 did not start listening on port $1" >&2
  return 1
}

start_services() { # DIR
  local dir=$1
  mkdir -p "$dir"
  # mariadbd runs as user mysql, which must be able to reach its datadir
  # (mktemp -d makes 0700 directories).
  chmod 755 "$dir"
  chmod o+x "$(dirname "$dir")"
  ensure_packages mariadb-server mariadb-client
  # rpm tests: rpmbuild, dnf (with the download plugin), createrepo_c as the reference
  ensure_packages rpm dnf dnf-plugins-core createrepo-c
  # web UI tests: pages loaded and screenshotted in headless Chromium
  ensure_packages chromium
  # README examples (tests/tests/e2e/readme.rs): jq reads JSON answers
  ensure_packages jq
  ensure_s3s
  ensure_python_tools

  # MariaDB in a private datadir; --user=mysql because we may be root.
  local db_port; db_port=$(free_port)
  # Its own tmpdir: a temporary table in the shared /tmp was once lost.
  mkdir -p "$dir/mysql/tmp"
  chown -R mysql:mysql "$dir/mysql" 2>/dev/null || true
  mariadb-install-db --user=mysql --datadir="$dir/mysql/data" --tmpdir="$dir/mysql/tmp" --auth-root-authentication-method=normal >"$dir/mysql-install.log" 2>&1 \
    || { cat "$dir/mysql-install.log" >&2; return 1; }
  mariadbd --no-defaults --user=mysql --datadir="$dir/mysql/data" --tmpdir="$dir/mysql/tmp" --socket="$dir/mysql/sock" \
    --pid-file="$dir/mysql/pid" --port="$db_port" --bind-address=127.0.0.1 \
    --innodb-flush-log-at-trx-commit=2 --max-connections=500 >"$dir/mysql.log" 2>&1 &
  MARIADB_PID=$!
  wait_for_port "$db_port" 60 MariaDB || { cat "$dir/mysql.log" >&2; return 1; }
  mariadb --socket="$dir/mysql/sock" -uroot <<SQL
CREATE USER 'artifactd'@'127.0.0.1' IDENTIFIED BY 'artifactd-test';
CREATE USER 'artifactd'@'localhost' IDENTIFIED BY 'artifactd-test';
GRANT ALL PRIVILEGES ON *.* TO 'artifactd'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'artifactd'@'localhost';
SQL
  export ARTIFACTD_TEST_MYSQL_URL="mysql://artifactd:artifactd-test@127.0.0.1:$db_port"

  # s3s-fs: a bucket is a directory under its root; it checks SigV4.
  local s3_port; s3_port=$(free_port)
  mkdir -p "$dir/s3/artifactd-test"
  s3s-fs --host 127.0.0.1 --port "$s3_port" --access-key testkey --secret-key testsecret1234 "$dir/s3" >"$dir/s3.log" 2>&1 &
  S3_PID=$!
  wait_for_port "$s3_port" 30 s3s-fs || { cat "$dir/s3.log" >&2; return 1; }
  export ARTIFACTD_TEST_S3_URL="http://testkey:testsecret1234@127.0.0.1:$s3_port/artifactd-test"
  echo "== MariaDB on 127.0.0.1:$db_port, s3s-fs on 127.0.0.1:$s3_port (logs in $dir)"
}

stop_services() {
  [ -n "${S3_PID:-}" ] && kill "$S3_PID" 2>/dev/null
  [ -n "${MARIADB_PID:-}" ] && kill "$MARIADB_PID" 2>/dev/null
  wait 2>/dev/null
  return 0
}
