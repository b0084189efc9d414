#!/usr/bin/env bash
# Builds the convoy-wasm package twice with wasm-pack (pkg/web for browsers, pkg/node for
# Node), then runs its tests: the Rust tests under Node with wasm-bindgen-test, and the
# package's JavaScript tests with `node --test` (size, imports, types, estimates, the
# Batch runner, the Node example against `convoy mock-server`).
#
# Needs wasm-pack, the wasm-bindgen CLI of the version Cargo.lock pins, wasm-opt
# (Debian's binaryen) and Node 20; scripts/test.sh installs them. The example's test
# needs target/debug/convoy (`cargo build -p convoy`). The package is rebuilt only when
# one of its sources is newer than the last build.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }

stamp=pkg/.built
sources=(src Cargo.toml README.md .cargo ../core/src ../core/Cargo.toml ../Cargo.lock)
if [ -f "$stamp" ] && [ -f pkg/web/convoy_wasm_bg.wasm ] && [ -f pkg/node/convoy_wasm_bg.wasm ] &&
    [ -z "$(find "${sources[@]}" -newer "$stamp" -print -quit)" ]; then
    step "wasm package: up to date in wasm/pkg"
else
    step "wasm package: wasm-pack build for the web and for Node"
    rm -f "$stamp"
    wasm-pack --quiet build --release --target web --out-dir pkg/web
    wasm-pack --quiet build --release --target nodejs --out-dir pkg/node
    touch "$stamp"
fi
wasm=pkg/web/convoy_wasm_bg.wasm
printf '.wasm: %s bytes, %s bytes gzipped\n' "$(wc -c <"$wasm")" "$(gzip -9c "$wasm" | wc -c)"

step "wasm package: Rust tests under Node (wasm-bindgen-test)"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test --target wasm32-unknown-unknown --lib --locked

step "wasm package: JavaScript tests (node --test)"
node --test --test-concurrency=1 tests/js/*.test.mjs
