# Shared helpers of scripts/run and scripts/test: install what is missing, start services.
# shellcheck shell=bash

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "need root for: $*"; return 1
    fi
}

apt_updated=0
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} = 0 ] && return 0
    command -v apt-get >/dev/null || { log "apt-get not found; install by hand: ${missing[*]}"; return 1; }
    if [ $apt_updated = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_rust() {
    if ! command -v cargo >/dev/null; then
        [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null; then
        log "installing the Rust toolchain (rustup)"
        apt_install curl ca-certificates
        curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if command -v rustup >/dev/null; then
        rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
        rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
    fi
    command -v cc >/dev/null || apt_install build-essential
}

# Release binaries of everything Inkset ships (scripts/package) and everything the
# benchmark scripts run (scripts/million, load, crash), in one cargo invocation: one
# feature resolution, so no script rebuilds what another built (burn alone takes ~20
# minutes cold, and cargo resolves features per invocation). Inkset Draw embeds the web UI,
# built first. Binaries in ${CARGO_TARGET_DIR:-target}/release.
build_release() {
    ensure_rust
    apt_install pkg-config libwebkit2gtk-4.1-dev librsvg2-dev libssl-dev
    command -v npm >/dev/null || apt_install nodejs npm
    log "web UI (embedded into inkset-draw)"
    (cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build)
    log "release build: inkset-server, inkset-trainer, inkset-loadgen, inkset-console, inkset-workbench, inkset-draw"
    cargo build --release --locked -p inkset-server -p inkset-trainer -p inkset-loadgen \
        -p inkset-console -p inkset-workbench -p inkset-draw
}
