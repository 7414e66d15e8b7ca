# Shared by scripts/setup and scripts/test: installs the system tools conjure needs, only where
# they are missing. Sourced, not run.

conjure_need_packages() {
  local missing=()
  command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
  command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
  [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
  # Caption fallback fonts (libass picks them per glyph through fontconfig): many scripts
  # including Arabic and Hebrew, Chinese/Japanese/Korean, and monochrome emoji (libass cannot
  # draw colour emoji fonts). `fc-list` lets conjure tell when a caption needs a missing font.
  command -v fc-list >/dev/null 2>&1 || missing+=(fontconfig)
  [ -f /usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf ] || missing+=(fonts-noto-core)
  [ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)
  [ -f /usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf ] || missing+=(fonts-symbola)
  command -v cc >/dev/null 2>&1 || missing+=(build-essential)
  command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
  command -v script >/dev/null 2>&1 || missing+=(bsdutils)
  [ ${#missing[@]} -eq 0 ] && return 0
  conjure_apt_install "${missing[@]}"
}

# apt-get install the given Debian packages, through sudo when not root.
conjure_apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "conjure: missing $*; install them as root: apt-get install $*" >&2
      return 1
    fi
  fi
  echo "conjure: installing $* (apt-get)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The official API clients the sandbox's tests run against it (the `openai` and `imaginepro`
# Python packages; see
# crates/conjure-sandbox/tests/it/clients.rs), in a virtualenv at $CARGO_TARGET_DIR/py-clients
# (default target/py-clients). Installs the pinned requirements only when the venv is missing or
# the pins changed since it was made. Run from the repository root.
conjure_need_py_clients() {
  local venv="${CARGO_TARGET_DIR:-target}/py-clients"
  local reqs="crates/conjure-sandbox/tests/clients/requirements.txt"
  if [ -x "$venv/bin/python" ] && cmp -s "$reqs" "$venv/conjure-requirements.txt"; then
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || conjure_apt_install python3 || return 1
  # Debian's python3 keeps venv's pip bootstrap in a package of its own.
  python3 -c 'import ensurepip' >/dev/null 2>&1 || conjure_apt_install python3-venv || return 1
  echo "conjure: installing the Python API clients for the sandbox tests into $venv (pip)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$reqs"
  cp "$reqs" "$venv/conjure-requirements.txt"
}

conjure_need_cargo() {
  if ! command -v cargo >/dev/null 2>&1; then
    [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "conjure: cargo not found; install Rust (https://rustup.rs) and run this again" >&2
    return 1
  fi
}

# PostgreSQL's server programs (initdb, pg_ctl, postgres) for the gateway's tests: Debian's
# `postgresql` package, installed only when no server is found. Sets CONJURE_PG_BIN to the
# newest version's directory under /usr/lib/postgresql/*/bin (they are not on PATH).
conjure_need_postgres() {
  CONJURE_PG_BIN=$(conjure_pg_bindir) && return 0
  # The package makes a cluster of its own (`main`), started wherever services may start; the
  # tests never use it, so as root ask postgresql-common not to make it.
  if [ "$(id -u)" -eq 0 ] && [ ! -e /etc/postgresql-common/createcluster.d/conjure.conf ]; then
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/conjure.conf
  fi
  conjure_apt_install postgresql || return 1
  CONJURE_PG_BIN=$(conjure_pg_bindir) && return 0
  echo "conjure: the postgresql package installed no initdb/pg_ctl under /usr/lib/postgresql" >&2
  return 1
}

conjure_pg_bindir() {
  local dir
  # `sort -V`: the glob sorts 10 before 9.
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && echo "$dir"
}

# Starts a throwaway PostgreSQL cluster for the tests and exports its URL as
# CONJURE_TEST_DATABASE_URL (a superuser `postgres`, trust auth, database `postgres`); the
# tests make a fresh database per case inside it. It lives in a new temp directory, listens
# only on a unix socket there (no TCP port to clash with), and trades durability for speed
# (fsync off): nothing in it outlives `conjure_pg_stop`. initdb refuses to run as root, so as
# root the cluster belongs to the `postgres` user the package creates. A URL already set in
# the environment is used as it is and nothing is started.
conjure_pg_start() {
  if [ -n "${CONJURE_TEST_DATABASE_URL:-}" ]; then
    echo "conjure: using the PostgreSQL server in CONJURE_TEST_DATABASE_URL" >&2
    return 0
  fi
  conjure_need_postgres || return 1
  local as=()
  if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
      echo "conjure: no \`postgres\` user to run the test cluster as (initdb refuses root)" >&2
      return 1
    fi
    as=(runuser -u postgres --)
  fi
  # /tmp even when TMPDIR is set: as root the cluster's owner must reach it (not under /root),
  # and a unix socket path must stay under ~100 bytes.
  CONJURE_PG_DIR=$(mktemp -d /tmp/conjure-pg.XXXXXX) || return 1
  [ ${#as[@]} -eq 0 ] || chown postgres: "$CONJURE_PG_DIR"
  # From inside the directory: the cluster's owner may not be able to read the current one.
  if ! (cd "$CONJURE_PG_DIR" && "${as[@]}" "$CONJURE_PG_BIN/initdb" -D "$CONJURE_PG_DIR/data" \
      -U postgres --auth=trust --encoding=UTF8 --no-locale --no-sync >"$CONJURE_PG_DIR/initdb.log" 2>&1); then
    echo "conjure: initdb failed:" >&2
    cat "$CONJURE_PG_DIR/initdb.log" >&2
    conjure_pg_stop
    return 1
  fi
  local opts="-c listen_addresses='' -c unix_socket_directories='$CONJURE_PG_DIR'"
  opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  opts+=" -c max_connections=200 -c shared_buffers=32MB"
  if ! (cd "$CONJURE_PG_DIR" && "${as[@]}" "$CONJURE_PG_BIN/pg_ctl" -D "$CONJURE_PG_DIR/data" \
      -l "$CONJURE_PG_DIR/server.log" -o "$opts" -w -t 60 start >/dev/null); then
    echo "conjure: the test PostgreSQL cluster did not start:" >&2
    cat "$CONJURE_PG_DIR/server.log" >&2 2>/dev/null
    conjure_pg_stop
    return 1
  fi
  export CONJURE_TEST_DATABASE_URL="postgres://postgres@localhost/postgres?host=$CONJURE_PG_DIR"
  echo "conjure: test PostgreSQL cluster running in $CONJURE_PG_DIR" >&2
}

# Stops the cluster conjure_pg_start started (if any) and removes its directory. Safe to call
# twice, and after a failed start.
conjure_pg_stop() {
  [ -n "${CONJURE_PG_DIR:-}" ] || return 0
  if [ -f "$CONJURE_PG_DIR/data/postmaster.pid" ]; then
    local as=()
    [ "$(id -u)" -ne 0 ] || as=(runuser -u postgres --)
    # `immediate`: the data is thrown away, so there is nothing to flush.
    (cd "$CONJURE_PG_DIR" && "${as[@]}" "$CONJURE_PG_BIN/pg_ctl" -D "$CONJURE_PG_DIR/data" \
      -m immediate -w stop >/dev/null 2>&1) ||
      echo "conjure: could not stop the test PostgreSQL cluster in $CONJURE_PG_DIR" >&2
  fi
  rm -rf "$CONJURE_PG_DIR"
  unset CONJURE_PG_DIR CONJURE_TEST_DATABASE_URL
}
