#!/usr/bin/env bash
# Build the release image of one stand-in release for the `docker` runtime:
# `localhost/intelgraph-server:<version>`, the release tarball (sandbox/dist, `make dist`)
# unpacked into /opt/intelgraph on top of the sandbox host image (it has python3,
# python3-redis and python3-psycopg). The image runs the API by default (`intelgraph-api`;
# `intelgraph-ingest` for the worker), as an unprivileged user, stopped by SIGTERM.
#
# The image carries the tarball's sha256 and the base image in labels: an image built from
# the same tarball on the same base is reused, so fleets side by side share it safely.
#
# usage: sandbox/image/build-release.sh VERSION [DIST_DIR]    prints the image reference
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
version=${1:?usage: $0 VERSION [DIST_DIR]}
dist=${2:-$here/../dist}
tarball="$dist/intelgraph-server-$version.tar.gz"
image="localhost/intelgraph-server:$version"

log() { printf 'release-image: %s\n' "$*" >&2; }
die() { printf 'release-image: error: %s\n' "$*" >&2; exit 1; }

[ -f "$tarball" ] || die "$tarball is missing: run 'make dist'"
base=$("$here/build.sh")
sha=$(sha256sum "$tarball" | cut -d' ' -f1)

# One build of a release image at a time; a fleet that waited reuses what the other built.
exec 8>"/run/lock/intelgraph-release-image-$version.lock"
flock 8

if [ "$(podman image inspect --format '{{ index .Labels "intelgraph.release.sha256" }} {{ index .Labels "intelgraph.base" }}' "$image" 2>/dev/null)" = "$sha $base" ]; then
    log "reusing $image"
    echo "$image"
    exit 0
fi

context=$(mktemp -d /var/tmp/intelgraph-release.XXXXXX)
trap 'rm -rf "$context"' EXIT
cp "$tarball" "$context/release.tar.gz"
cat >"$context/Containerfile" <<CONTAINERFILE
FROM $base
ADD release.tar.gz /opt/intelgraph/
ENV PATH=/opt/intelgraph/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1
WORKDIR /opt/intelgraph
USER 65534:65534
STOPSIGNAL SIGTERM
ENTRYPOINT []
CMD ["intelgraph-api"]
LABEL org.opencontainers.image.title="intelgraph-server" \\
      org.opencontainers.image.version="$version" \\
      intelgraph.release.sha256="$sha" \\
      intelgraph.base="$base"
CONTAINERFILE
log "building $image from $(basename "$tarball")"
podman build --quiet --tag "$image" "$context" >/dev/null
echo "$image"
