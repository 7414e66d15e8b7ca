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
