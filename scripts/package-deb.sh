#!/usr/bin/env bash
# Builds the Debian package of mfa-worker from this checkout:
#   scripts/package-deb.sh [OUTPUT-DIRECTORY]      (default: .build/deb)
# prints the path of mfa-worker_<version>_<arch>.deb. It holds the release
# binary (Swift's runtime linked in statically), the hardened systemd unit
# (deploy/systemd), a default configuration under /etc/mfa-worker with no
# secret, the maintainer scripts that create the mfa-worker system user
# (deploy/debian), the alert rules and the docs. The version is the one
# `mfa-worker --version` prints. Needs dpkg-dev (scripts/install-deps.sh).
# DEB_MAINTAINER overrides the Maintainer field.
set -euo pipefail
cd "$(dirname "$0")/.."

output=${1:-.build/deb}
maintainer=${DEB_MAINTAINER:-"mfa-worker maintainers <maintainers@users.noreply.github.com>"}

echo "package-deb: building the release binary" >&2
if ! swift build -c release --product mfa-worker --static-swift-stdlib > /tmp/mfa-package-build.log 2>&1; then
    cat /tmp/mfa-package-build.log >&2
    exit 1
fi
binary="$(swift build -c release --static-swift-stdlib --show-bin-path)/mfa-worker"
version=$("$binary" --version)
architecture=$(dpkg --print-architecture)

work=$(mktemp -d /tmp/mfa-package-XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/root"
doc="$root/usr/share/doc/mfa-worker"

install -D -m 0755 "$binary" "$root/usr/bin/mfa-worker"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/mfa-worker"
install -D -m 0644 deploy/systemd/mfa-worker.service "$root/lib/systemd/system/mfa-worker.service"
install -D -m 0644 deploy/debian/worker.yaml "$root/etc/mfa-worker/worker.yaml"
install -D -m 0644 deploy/prometheus/mfa-worker-alerts.yml "$root/usr/share/mfa-worker/prometheus/mfa-worker-alerts.yml"
install -D -m 0644 deploy/prometheus/prometheus.example.yml "$root/usr/share/mfa-worker/prometheus/prometheus.example.yml"
install -D -m 0644 README.md "$doc/README.md"
install -D -m 0644 docs/operations.md "$doc/operations.md"
install -D -m 0644 docs/protocol.md "$doc/protocol.md"
install -D -m 0644 config/worker.example.yaml "$doc/examples/worker.example.yaml"
install -D -m 0644 deploy/debian/copyright "$doc/copyright"
install -D -m 0644 deploy/debian/lintian-overrides "$root/usr/share/lintian/overrides/mfa-worker"
sed -e "s/@VERSION@/$version/" -e "s/@COMMIT@/$(git rev-parse --short HEAD)/" \
    -e "s/@MAINTAINER@/$maintainer/" -e "s/@DATE@/$(git log -1 --format=%cD)/" \
    deploy/debian/changelog.in | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

# The libraries the binary needs, as Debian names them.
mkdir -p "$work/shlibs/debian"
printf 'Source: mfa-worker\n\nPackage: mfa-worker\nArchitecture: any\n' > "$work/shlibs/debian/control"
depends=$(cd "$work/shlibs" && dpkg-shlibdeps -O "$root/usr/bin/mfa-worker" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')

mkdir -p "$root/DEBIAN"
install -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm "$root/DEBIAN/"
echo /etc/mfa-worker/worker.yaml > "$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
cat > "$root/DEBIAN/control" <<EOF
Package: mfa-worker
Version: $version
Architecture: $architecture
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: adduser, $depends
Section: admin
Priority: optional
Description: TOTP codes for automation, served over RabbitMQ
 mfa-worker holds the TOTP keys of automation users in one place and answers
 mfa-code-request messages from allowed requesters (checked by the broker's
 user_id) with the code of the current window, on the requester's own queue.
 .
 The package runs it as a hardened systemd service under its own system user,
 with Prometheus metrics, health endpoints and an audit trail; alert rules for
 Prometheus are in /usr/share/mfa-worker/prometheus.
EOF

mkdir -p "$output"
package="$output/mfa-worker_${version}_${architecture}.deb"
dpkg-deb --root-owner-group -Zgzip --build "$root" "$package" >/dev/null
echo "$package"
