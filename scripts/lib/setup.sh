# Shared by scripts/demo and scripts/test: install what is missing, and only that.
# Source it; then call need_apt ... and install_missing_apt, install_web_viewer.

# Each step with the seconds since the script started, so a slow CI run shows where its time went.
say() { printf '\n== [%5ds] %s\n' "$SECONDS" "$*" >&2; }
missing=()
apt_packages=()

# need_apt PACKAGE... : queue Debian packages for install_missing_apt.
need_apt() { apt_packages+=("$@"); }

# The packages every part of exhibit needs to build and draw: a C/C++ compiler (meshoptimizer), and a graphics
# driver wgpu can use without a GPU: Mesa's OpenGL through EGL (llvmpipe) or Mesa's Vulkan (lavapipe). A machine
# with either draws; a machine with neither gets lavapipe.
need_build_and_draw() {
  command -v cc >/dev/null || need_apt build-essential
  command -v c++ >/dev/null || need_apt g++
  local vulkan=0 gl=0
  ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1 && vulkan=1
  ldconfig -p 2>/dev/null | grep -q 'libEGL_mesa.so.0' && gl=1
  if [ "$vulkan" = 0 ] && [ "$gl" = 0 ]; then need_apt mesa-vulkan-drivers libvulkan1; fi
}

# install_missing_apt: apt-get install the queued packages as root; otherwise name them and the command.
install_missing_apt() {
  if [ ${#apt_packages[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing Debian packages: ${apt_packages[*]}"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}" >/dev/null
    else
      missing+=("Debian packages ${apt_packages[*]} (run as root, or: sudo apt-get install ${apt_packages[*]})")
    fi
  fi
  command -v cargo >/dev/null || missing+=("Rust (cargo): install it with rustup, https://rustup.rs")
  if [ ${#missing[@]} -gt 0 ]; then
    printf '%s cannot run; missing:\n' "$0" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 2
  fi
}

# install_web_viewer: the wasm32 target and wasm-bindgen-cli of Cargo.lock's version when missing, then
# web/dist (scripts/build-web) unless it is newer than every source it is built from.
install_web_viewer() {
  local version
  version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
  if ! rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $version"; then
    say "installing wasm-bindgen-cli $version (about 3 minutes, once)"
    # Not --locked: its lock file names a webpki-roots the registry no longer offers.
    cargo install wasm-bindgen-cli --version "$version" --quiet
  fi
  local stamp=web/dist/exhibit_web_bg.wasm
  if [ -f "$stamp" ] && [ -f web/dist/case.js ] \
    && [ -z "$(find web viewer codec Cargo.lock -newer "$stamp" \( -name '*.rs' -o -name '*.js' -o -name '*.wgsl' -o -name '*.toml' -o -name Cargo.lock \) -not -path 'web/dist/*' -print -quit)" ]; then
    return
  fi
  say "building the web viewer (web/dist)"
  scripts/build-web >/dev/null
}

# ensure_runtime_dir: wgpu's GL probe (libwayland through EGL) prints "XDG_RUNTIME_DIR is invalid" without a
# runtime folder, which a headless machine or a root shell often lacks; give this run a private one.
ensure_runtime_dir() {
  if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "${XDG_RUNTIME_DIR}" ]; then
    XDG_RUNTIME_DIR="$(mktemp -d)"
    export XDG_RUNTIME_DIR
    chmod 700 "$XDG_RUNTIME_DIR"
  fi
}
