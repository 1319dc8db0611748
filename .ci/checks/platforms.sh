#!/usr/bin/env bash
# Type-checks the crate for macOS and Windows, as no such machine is at hand: the code's
# platform `cfg`s (file locking, signals, folder syncing, the terminal under the dashboard) and
# its dependencies' must agree there as on Linux.
#
# - macOS on Intel (x86_64-apple-darwin): every target, tests included, on ndarray; the library
#   and the binary on wgpu (Metal is a main reason to pick wgpu there).
# - macOS on Apple silicon (aarch64-apple-darwin): the library and the binary on ndarray, whose
#   kernels have no x86 instructions there.
# - Windows (x86_64-pc-windows-gnu): the library, the binary and the examples on ndarray (the
#   tests use Unix signals, mounts and links: they run on Unix).
#
# `cargo check` links nothing, so the C a dependency compiles in its build script (ring, for
# HTTPS) is handed to a stand-in compiler that writes empty objects: the Rust code is checked,
# not C that no one links. Needs `rustup`, which fetches the targets' standard libraries.
set -euo pipefail
cd "$(dirname "$0")/../.."

stub="$(mktemp -d)"
trap 'rm -rf "$stub"' EXIT
cat > "$stub/cc" <<'SH'
#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    -o) shift; : > "$1" ;;
    -o*) : > "${1#-o}" ;;
  esac
  shift
done
SH
cat > "$stub/ar" <<'SH'
#!/bin/sh
for arg in "$@"; do case "$arg" in *.a|*.lib) : > "$arg"; exit 0 ;; esac; done
SH
chmod +x "$stub/cc" "$stub/ar"

check() {
  local target="$1"
  shift
  local var="${target//-/_}"
  echo "cargo check --target $target $*"
  env "CC_$var=$stub/cc" "AR_$var=$stub/ar" \
    cargo check --release --target "$target" "$@"
}

rustup target add x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-gnu
check x86_64-apple-darwin --all-targets
check x86_64-apple-darwin --no-default-features --features wgpu --lib --bins
check aarch64-apple-darwin --lib --bins
check x86_64-pc-windows-gnu --lib --bins --examples
echo "macOS and Windows: the crate type-checks"
