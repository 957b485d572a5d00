#!/usr/bin/env bash
# Build the sandbox host image: Debian bookworm with systemd as PID 1, sshd, and every
# Debian package the fleet needs baked in with its unit disabled (the roles enable what
# each host runs), and a compiled-code cache for the zips Ansible's module runs import
# (zipimport_cache.py). The image tag carries a hash of this script, the package list and
# that file, so a changed recipe builds a new image and an unchanged one is reused.
#
# usage: sandbox/image/build.sh [--force]     prints the image reference on stdout
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
packages_file="$here/packages.txt"
image_repo="localhost/intelgraph-sandbox-host"
zipimport_cache="$here/zipimport_cache.py"
recipe_hash=$(cat "$0" "$packages_file" "$zipimport_cache" | sha256sum | cut -c1-12)
image="$image_repo:$recipe_hash"
force=${1:-}
# pnpm 8, the release the workspace is made for; its sha512 as the npm registry gives it.
PNPM_VERSION=8.15.9
PNPM_SHA512=499434c9d8fdd1a2794ebf4552b3b25c0a633abcee5bb15e7b5de90f32f47b513aca98cd5cfd001c31f0db454bc3804edccd578501e4ca293a6816166bbd9f81

log() { printf 'image: %s\n' "$*" >&2; }
die() { printf 'image: error: %s\n' "$*" >&2; exit 1; }

# Fleets side by side (INTELGRAPH_SANDBOX_ID) may ask for the image at the same time: one
# builds it, the others wait and reuse it.
exec 8>/run/lock/intelgraph-sandbox-host-image.lock
flock 8

if [ "$force" != "--force" ] && podman image exists "$image"; then
    log "reusing $image"
    echo "$image"
    exit 0
fi

[ "$(id -u)" = 0 ] || die "building the host image needs root (debootstrap, chroot, rootful podman)"
command -v debootstrap >/dev/null || die "debootstrap is missing: run 'make deps'"

# The Debian mirror is the one this machine's apt already uses; it is never written into
# the repository.
mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | tr ' ' '\n' | grep -v -- '-security' | head -n1 || true)
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
    mirror=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
fi
[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d}"

work=$(mktemp -d /var/tmp/intelgraph-image.XXXXXX)
rootfs="$work/rootfs"
cleanup() {
    for m in dev/pts dev proc sys; do
        mountpoint -q "$rootfs/$m" 2>/dev/null && umount -l "$rootfs/$m"
    done
    rm -rf "$work"
}
trap cleanup EXIT

log "debootstrap bookworm from $mirror"
debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,python3,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

# apt inside the image uses the same sources, settings and CA certificates as this machine
# (HTTPS through a local CA otherwise fails with SELF_SIGNED_CERT_IN_CHAIN).
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
rm -f "$rootfs/etc/apt/sources.list"
cp -a /etc/apt/sources.list.d/. "$rootfs/etc/apt/sources.list.d/" 2>/dev/null || true
[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$rootfs/etc/apt/sources.list"
find "$rootfs/etc/apt/sources.list.d" -name '*disabled*' -delete
for conf in /etc/apt/apt.conf.d/99*; do [ -f "$conf" ] && cp "$conf" "$rootfs/etc/apt/apt.conf.d/"; done
if compgen -G "/usr/local/share/ca-certificates/*" >/dev/null; then
    mkdir -p "$rootfs/usr/local/share/ca-certificates"
    cp -a /usr/local/share/ca-certificates/. "$rootfs/usr/local/share/ca-certificates/"
fi
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod +x "$rootfs/usr/sbin/policy-rc.d"

mount -t proc proc "$rootfs/proc"
mount -t sysfs sys "$rootfs/sys"
mount --bind /dev "$rootfs/dev"
mount --bind /dev/pts "$rootfs/dev/pts"

in_root() { chroot "$rootfs" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }

# While the image is built, dpkg neither syncs each file it unpacks (a failed build is thrown
# away) nor unpacks documentation, manual pages and info files (a host never reads them); the
# first setting is removed before the image is saved, the second kept.
printf 'force-unsafe-io\n' >"$rootfs/etc/dpkg/dpkg.cfg.d/intelgraph-image-build"
printf 'path-exclude=/usr/share/doc/*\npath-exclude=/usr/share/man/*\npath-exclude=/usr/share/info/*\n' \
    >"$rootfs/etc/dpkg/dpkg.cfg.d/intelgraph-no-docs"

log "installing the fleet's packages"
mapfile -t pkgs < <(grep -v '^[[:space:]]*#' "$packages_file" | grep -v '^[[:space:]]*$')
in_root apt-get update -qq >"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log" >&2; die "apt-get update failed"; }
in_root apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >>"$work/apt.log" 2>&1 \
    || { tail -n 30 "$work/apt.log" >&2; die "apt-get install failed"; }
in_root update-ca-certificates >/dev/null 2>&1

# pnpm (the workspace's `make bootstrap`, `pnpm run db:migrate`) from its release on the npm
# registry, checked against the registry's sha512: Debian's npm, only to install it, would
# bring some 300 more packages.
log "installing pnpm $PNPM_VERSION"
in_root curl -fsS --retry 3 -o /tmp/pnpm.tgz "https://registry.npmjs.org/pnpm/-/pnpm-$PNPM_VERSION.tgz" \
    || die "downloading pnpm $PNPM_VERSION failed"
echo "$PNPM_SHA512  $rootfs/tmp/pnpm.tgz" | sha512sum --check --quiet - || die "pnpm $PNPM_VERSION: checksum mismatch"
mkdir -p "$rootfs/usr/local/lib/pnpm"
tar -xzf "$rootfs/tmp/pnpm.tgz" -C "$rootfs/usr/local/lib/pnpm" --strip-components=1 --no-same-owner
ln -sfn ../lib/pnpm/bin/pnpm.cjs "$rootfs/usr/local/bin/pnpm"
rm -f "$rootfs/tmp/pnpm.tgz"
[ "$(in_root pnpm --version)" = "$PNPM_VERSION" ] || die "pnpm $PNPM_VERSION does not run in the image"

log "configuring systemd and sshd"
# Services are off until a role enables them on the hosts that run them.
for unit in redis-server postgresql haproxy prometheus apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_all.timer fstrim.timer; do
    in_root systemctl disable "$unit" >/dev/null 2>&1 || true
done
for unit in systemd-networkd-wait-online.service getty@tty1.service console-getty.service \
    systemd-logind.service; do
    in_root systemctl mask "$unit" >/dev/null 2>&1 || true
done
in_root systemctl enable ssh >/dev/null 2>&1
# Debian's haproxy unit cannot set up its private mounts inside a container (226/NAMESPACE).
mkdir -p "$rootfs/etc/systemd/system/haproxy.service.d"
printf '[Service]\nBindReadOnlyPaths=\n' >"$rootfs/etc/systemd/system/haproxy.service.d/container.conf"
in_root ssh-keygen -A >/dev/null
mkdir -p "$rootfs/etc/ssh/sshd_config.d" "$rootfs/root/.ssh"
chmod 700 "$rootfs/root/.ssh"
cat >"$rootfs/etc/ssh/sshd_config.d/sandbox.conf" <<'EOF'
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
MaxStartups 100:30:200
MaxSessions 50
EOF

# Every Python start on the host (a module run's among them) installs the cache; it changes
# no code that runs, only how often the same source is compiled.
log "installing the zipimport compiled-code cache"
python3 "$zipimport_cache" --into "$rootfs/usr/lib/python3/dist-packages"

rm -f "$rootfs/usr/sbin/policy-rc.d" "$rootfs/etc/resolv.conf" "$rootfs/etc/dpkg/dpkg.cfg.d/intelgraph-image-build"
: >"$rootfs/etc/machine-id"
in_root apt-get clean
rm -rf "$rootfs/var/lib/apt/lists/"*

for m in dev/pts dev proc sys; do umount -l "$rootfs/$m"; done

log "importing as $image"
tar -C "$rootfs" --numeric-owner -c . \
    | podman import --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' - "$image" >/dev/null
podman tag "$image" "$image_repo:latest"
echo "$image"
