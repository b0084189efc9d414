#!/usr/bin/env bash
# Runs every check convoy has: formatting, lints, docs, the Rust tests, the no_std build,
# and the wasm package's Node and browser tests. Installs what is missing first, and
# skips each install when the tool is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# Versions that must match: wasm-pack only uses a wasm-bindgen CLI of exactly the
# version Cargo.lock resolves the wasm-bindgen crate to.
WASM_PACK_VERSION=0.15.1
wasm_bindgen_version() {
    awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock
}

install_tools() {
    step "checking tools"
    local installed
    installed="$(rustup target list --installed)"
    for target in thumbv7em-none-eabihf wasm32-unknown-unknown; do
        grep -qx "$target" <<<"$installed" || rustup target add "$target"
    done
    rustup component list --installed | grep -q '^clippy' || rustup component add clippy
    rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt

    if [ -d wasm ]; then
        local wanted
        wanted="$(wasm_bindgen_version)"
        if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wanted" ]; then
            cargo install wasm-bindgen-cli --version "$wanted" --locked
        fi
        if [ "$(wasm-pack --version 2>/dev/null | awk '{print $2}')" != "$WASM_PACK_VERSION" ]; then
            cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked
        fi
        # Debian's packages: wasm-opt (binaryen) shrinks the .wasm, chromium runs the pages.
        local missing=()
        command -v wasm-opt >/dev/null || missing+=(binaryen)
        command -v chromium >/dev/null || missing+=(chromium)
        if [ ${#missing[@]} -gt 0 ]; then
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
        fi
    fi
}

export PATH="$HOME/.cargo/bin:$PATH"
install_tools

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "rustdoc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "no_std build of convoy-core for thumbv7em-none-eabihf"
cargo build -p convoy-core --target thumbv7em-none-eabihf --locked

step "cargo test"
cargo build -p convoy --locked
cargo test --workspace --locked

if [ -d wasm ]; then
    step "wasm package: build and Node tests"
    bash wasm/test.sh
fi

step "browser tests in headless Chromium"
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    (cd tests/browser && npm ci --no-audit --no-fund)
fi
(cd tests/browser && npm test)

step "all checks passed"
