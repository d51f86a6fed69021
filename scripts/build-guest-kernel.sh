#!/usr/bin/env bash
# Builds the guest kernel (an uncompressed vmlinux with the PVH entry point)
# from Debian's linux-source-6.1 and the committed config fragment, and caches
# it keyed by a hash of its inputs. Prints the vmlinux path on stdout (last line).
#   usage: scripts/build-guest-kernel.sh [--print-key]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fragment="$root/Fixtures/guest/kernel.config"
tarball=/usr/src/linux-source-6.1.tar.xz
cache="${LUMINAGUARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/luminaguard}"

say() { echo "[guest-kernel] $*" >&2; }

if [ ! -f "$tarball" ]; then
  say "error: $tarball is missing."
  say "fix: apt-get install -y linux-source-6.1 flex bison libelf-dev bc   (or run scripts/install-deps.sh as root)"
  exit 3
fi
for tool in make gcc flex bison bc; do
  command -v "$tool" >/dev/null || { say "error: '$tool' not found. fix: scripts/install-deps.sh (as root)"; exit 3; }
done

src_version=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || stat -c %s "$tarball")
key=$( { cat "$fragment"; echo "$src_version"; echo "recipe-1"; } | sha256sum | cut -c1-16)
[ "${1:-}" = "--print-key" ] && { echo "$key"; exit 0; }

out="$cache/kernel/$key"
if [ -f "$out/vmlinux" ]; then
  say "cached: $out/vmlinux"
  echo "$out/vmlinux"
  exit 0
fi

build="$cache/kernel-build"
mkdir -p "$build" "$cache/kernel"
exec 9>"$cache/kernel-build.lock"
flock 9
if [ -f "$out/vmlinux" ]; then echo "$out/vmlinux"; exit 0; fi   # built while we waited

if [ ! -f "$build/linux-source-6.1/Makefile" ]; then
  say "extracting $tarball (about a minute)..."
  rm -rf "$build/linux-source-6.1"
  tar -C "$build" -xf "$tarball"
fi
cd "$build/linux-source-6.1"
jobs=$(nproc)
say "configuring (tinyconfig + $fragment)..."
make -s tinyconfig >/dev/null
./scripts/kconfig/merge_config.sh -m .config "$fragment" >/dev/null
make -s olddefconfig >/dev/null
# Every fragment line must have survived olddefconfig; a silently dropped
# option would give a kernel that boots without, e.g., the agent channel.
missing=0
while IFS= read -r line; do
  case "$line" in CONFIG_*=y)
    grep -qx "$line" .config || { say "warning: $line did not take effect"; missing=1; } ;;
  esac
done < "$fragment"
say "building vmlinux with $jobs jobs: this takes about 5 minutes on 2 cores the first time; later runs use the cache."
start=$(date +%s)
make -j"$jobs" vmlinux > "$build/make.log" 2>&1 || { tail -30 "$build/make.log" >&2; say "error: kernel build failed; full log: $build/make.log"; exit 4; }
say "built in $(( $(date +%s) - start )) s"
tmp="$cache/kernel/.$key.tmp.$$"
mkdir -p "$tmp"
cp vmlinux "$tmp/vmlinux"
cp .config "$tmp/config"
rm -rf "$out"
mv "$tmp" "$out"
echo "$out/vmlinux"
