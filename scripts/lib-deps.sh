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
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "conjure: missing ${missing[*]}; install them as root: apt-get install ${missing[*]}" >&2
      return 1
    fi
  fi
  echo "conjure: installing ${missing[*]} (apt-get)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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
