#!/usr/bin/env bash
# Builds the guest image (kernel + initramfs with busybox and the guest agent)
# and caches it keyed by a hash of every input. Progress goes to stderr; the
# last stdout line is the image directory, holding vmlinux, initramfs.cpio,
# floor.cpio and manifest.json. floor.cpio is the platform floor: busybox and
# an /init (Fixtures/guest/floor-init) that only announces itself on the agent's
# channel, booted with the same kernel and QEMU command line to calibrate
# emulated budgets (see Fixtures/budgets/emulation-budgets.json).
#
# Commands that only use the image find it by a key of its inputs (the kernel
# recipe, the guest agent's sources, net-up, busybox, this script), without
# compiling anything (the agent uses no package dependencies, so Package.resolved
# is not an input): --lookup prints the image directory for the current
# inputs, or exits 4 if that image is not built. A build records its image
# under that key (image/inputs/KEY), so an unchanged tree skips the agent build.
#   usage: scripts/build-guest-image.sh [--lookup | --inputs-key | --inputs]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="${LUMINAGUARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/luminaguard}"
say() { echo "[guest-image] $*" >&2; }

# The key of every input, hashed from the sources (never from build outputs),
# so it costs milliseconds. Paths are relative: worktrees with the same
# sources share the cached image.
# (The kernel source enters as the tarball's size and mtime: asking dpkg, as
# the kernel's own key does, costs a few hundred ms on a loaded host; the
# Swift compiler likewise.)
# Every input file, NUL-separated, relative to the root where it is the
# project's (the one list: --inputs prints it with the source directories, for
# GuestImage's stat memo of a lookup).
# The guest agent's source directories (the targets it is built from).
agent_sources="Sources/GuestAgent Sources/AgentProtocol Sources/CSysShims Sources/GuestEarlyInit"
input_files() {
  # shellcheck disable=SC2086
  find $agent_sources -type f -print0 | LC_ALL=C sort -z
  printf '%s\0' Fixtures/guest/kernel.config scripts/build-guest-kernel.sh Package.swift Fixtures/guest/net-up \
    Fixtures/guest/floor-init scripts/build-guest-image.sh /bin/busybox
}
# The kernel source and the compiler enter by size and mtime.
stat_inputs() { echo /usr/src/linux-source-6.1.tar.xz "$(command -v swift-frontend || echo no-swift-frontend)"; }
inputs_key() {
  # One sha256sum over every file (few processes: this runs at every start).
  { echo "inputs-1"
    # shellcheck disable=SC2046
    stat -L -c '%n %s %Y' $(stat_inputs) 2>&1 || true
    cd "$root"
    input_files | xargs -0 sha256sum 2>&1 || true   # a missing file changes the key; the build says what is missing
  } | sha256sum | cut -c1-16
}
ikey=$(inputs_key)
by_inputs="$cache/image/inputs/$ikey"
case "${1:-}" in
  --inputs)
    # Everything whose change can change the key: the input files, the
    # directories they are found in (a file added or removed changes its
    # directory), the stat-only inputs. One path per line, absolute.
    cd "$root"
    input_files | tr '\0' '\n' | sed "s|^\([^/]\)|$root/\1|"
    # shellcheck disable=SC2086
    find $agent_sources -type d | LC_ALL=C sort | sed "s|^|$root/|"
    stat_inputs | tr ' ' '\n'
    exit 0 ;;
  --inputs-key) echo "$ikey"; exit 0 ;;
  --lookup)
    if [ -f "$by_inputs/manifest.json" ]; then (cd -P "$by_inputs" && pwd); exit 0; fi
    say "no guest image is built for the current sources (inputs key $ikey). fix: lgperf image build   (or scripts/build-guest-image.sh)"
    exit 4 ;;
  "") ;;
  *) say "error: unknown argument '$1' (usage: $0 [--lookup | --inputs-key | --inputs])"; exit 2 ;;
esac
# Records the image built from these inputs (atomically: a new link renamed over).
record_inputs() {
  mkdir -p "$cache/image/inputs"
  ln -sfn "../$1" "$by_inputs.tmp.$$"
  mv -T "$by_inputs.tmp.$$" "$by_inputs"
}
if [ -f "$by_inputs/manifest.json" ]; then
  out=$(readlink -f "$by_inputs")
  say "cached (inputs key $ikey): $out"
  echo "$out"
  exit 0
fi


for need in /bin/busybox:busybox-static cpio:cpio strip:binutils; do
  path=${need%%:*}; pkg=${need##*:}
  if ! command -v "$path" >/dev/null 2>&1 && [ ! -x "$path" ]; then
    say "error: $path is missing. fix: apt-get install -y $pkg   (or scripts/install-deps.sh as root)"
    exit 3
  fi
done
if ! /bin/busybox --list >/dev/null 2>&1 || ldd /bin/busybox >/dev/null 2>&1; then
  say "error: /bin/busybox is not a static busybox. fix: apt-get install -y busybox-static"
  exit 3
fi

kernel=$("$root/scripts/build-guest-kernel.sh" | tail -n 1)

# A static executable (Swift runtime and glibc linked in): no dynamic loader,
# relocations or shared libraries at boot, and an 8.7 MB initramfs instead of
# 15 MB (cold spawn 1.27 -> 1.14 x the platform floor, same-run A/B; README,
# "Guest boot").
say "building the guest agent (release, static executable)..."
( cd "$root" && swift build -c release --product lg-guest-agent -Xswiftc -static-executable \
    --scratch-path "$root/.build-guest" >&2 )
agent="$root/.build-guest/release/lg-guest-agent"
if ldd "$agent" >/dev/null 2>&1; then
  say "error: $agent is dynamically linked; the guest image has no shared libraries. fix: build it with -Xswiftc -static-executable"
  exit 3
fi

key=$( { sha256sum "$kernel" "$agent" "$root/Fixtures/guest/net-up" "$root/Fixtures/guest/floor-init" /bin/busybox "$0" | cut -d' ' -f1; } | sha256sum | cut -c1-16)
out="$cache/image/$key"
if [ -f "$out/manifest.json" ]; then
  record_inputs "$key"
  say "cached: $out"
  echo "$out"
  exit 0
fi

say "assembling initramfs..."
stage=$(mktemp -d "$cache/.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
rootfs="$stage/rootfs"
mkdir -p "$rootfs"/{bin,sbin,proc,sys,dev,tmp,workspace,etc}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
done
cp "$agent" "$rootfs/bin/lg-guest-agent"
strip "$rootfs/bin/lg-guest-agent"
# The agent is /init (it mounts what it needs itself: no shell, no process
# per command); the network set-up script runs only in VMs with a NIC.
ln -s bin/lg-guest-agent "$rootfs/init"
install -m 0755 "$root/Fixtures/guest/net-up" "$rootfs/etc/net-up"
( cd "$rootfs" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet ) > "$stage/initramfs.cpio"

say "assembling the platform floor initramfs..."
floor="$stage/floor"
mkdir -p "$floor"/{bin,dev,proc}
cp /bin/busybox "$floor/bin/busybox"
for applet in sh mount sleep; do ln -s busybox "$floor/bin/$applet"; done
install -m 0755 "$root/Fixtures/guest/floor-init" "$floor/init"
( cd "$floor" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet ) > "$stage/floor.cpio"
rm -rf "$floor"
cp "$kernel" "$stage/vmlinux"
cat > "$stage/manifest.json" <<JSON
{
  "key": "$key",
  "kernel_sha256": "$(sha256sum "$stage/vmlinux" | cut -d' ' -f1)",
  "initramfs_sha256": "$(sha256sum "$stage/initramfs.cpio" | cut -d' ' -f1)",
  "floor_initramfs_sha256": "$(sha256sum "$stage/floor.cpio" | cut -d' ' -f1)",
  "kernel_source": "linux-source-6.1 $(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || echo unknown)",
  "busybox": "$(/bin/busybox | head -1 | sed 's/"//g')",
  "built": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
JSON
rm -f "$stage/rootfs" 2>/dev/null || rm -rf "$stage/rootfs"
mkdir -p "$cache/image"
rm -rf "$out"
mv "$stage" "$out"
trap - EXIT
ln -sfn "$key" "$cache/image/current"
record_inputs "$key"
say "image ready: $out ($(du -sh "$out/initramfs.cpio" | cut -f1) initramfs, $(du -sh "$out/floor.cpio" | cut -f1) floor)"
echo "$out"
