#!/usr/bin/env bash
# Install what the sandbox needs on this machine: podman with runc, debootstrap, and the
# podman settings measured to work here (sandbox/image/containers.conf). Safe to re-run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# podman and its runtime for the fleet; redis-server and postgresql for the stand-in
# service's integration tests, which run them on loopback; haproxy for the HAProxy modules'
# integration tests, which run their own HAProxy on loopback; chromium (headless) and a font for
# the tests of the HTML release report (its module's integration test, and test_security.py with
# the report of an upgrade), which open the page as a reader's browser does (tests/support/browser.py).
packages=(podman runc debootstrap uidmap slirp4netns iptables openssh-client redis-server postgresql haproxy
    chromium fonts-dejavu-core)

if [ "$(id -u)" != 0 ]; then
    echo "setup-host: the sandbox runs rootful podman: run this as root" >&2
    exit 1
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup-host: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Every host runs systemd, which takes inotify instances; several fleets side by side exceed
# the kernel's default of 128 for root, and their hosts then never finish booting.
if [ "$(sysctl -n fs.inotify.max_user_instances)" -lt 1024 ]; then
    sysctl -qw fs.inotify.max_user_instances=1024
    echo "setup-host: raised fs.inotify.max_user_instances to 1024"
fi
conf=/etc/containers/containers.conf
if ! cmp -s "$here/image/containers.conf" "$conf"; then
    [ -f "$conf" ] && cp "$conf" "$conf.before-intelgraph-sandbox"
    install -D -m 0644 "$here/image/containers.conf" "$conf"
    echo "setup-host: wrote $conf"
fi
