#!/usr/bin/env bash
# Re-creates ext/fcgi2 from Debian's libfcgi source package plus ext/patches (--check: verify only).
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: ext/update.sh [--check] [--setup-apt]

Re-creates ext/fcgi2 from Debian's source package libfcgi (upstream fcgi2)
with ext/patches/*.patch applied in order.

  --check      build the tree in a temporary directory and compare it with
               ext/fcgi2; exit 1 and print the diff when they differ
  --setup-apt  if apt knows no source package libfcgi of the pinned version,
               add /etc/apt/sources.list.d/libfcgi-trixie-src.sources
               (Debian trixie deb-src) and run apt-get update; needs root

Environment:
  LIBFCGI_ORIG_TARBALL  path of libfcgi_<version>.orig.tar.gz to use instead of
                        downloading it with apt-get source (works offline and
                        without apt, e.g. on macOS); its sha256 is checked the same
USAGE
}

# The pinned source: Debian's version here, the orig tarball's sha256 and
# name in ext/upstream.sha256 (sha256sum format).
readonly DEB_PACKAGE=libfcgi
readonly DEB_VERSION=2.4.5-0.1
readonly TOP_DIR=fcgi2-2.4.5
# The vendored files; keep in step with ext/fcgi2.gyp, ext/fcgi2.cmake and
# ext/UPSTREAM.md.
readonly FILES=(
    LICENSE
    include/fastcgi.h
    include/fcgiapp.h
    include/fcgimisc.h
    include/fcgios.h
    libfcgi/fcgiapp.c
    libfcgi/os_unix.c
)
readonly APT_SOURCES_FILE=/etc/apt/sources.list.d/libfcgi-trixie-src.sources
readonly DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

die() {
    printf 'ext/update.sh: %s\n' "$*" >&2
    exit 2
}

check=0
setup_apt=0
for arg in "$@"; do
    case "$arg" in
        --check) check=1 ;;
        --setup-apt) setup_apt=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

ext_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
read -r expected_sha256 orig_name < "$ext_dir/upstream.sha256" \
    || die "cannot read $ext_dir/upstream.sha256"

work=$(mktemp -d "${TMPDIR:-/tmp}/libfcgi-update.XXXXXX")
trap 'rm -rf "$work"' EXIT

sha256_of() {
    if command -v sha256sum > /dev/null; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

apt_has_source() {
    apt-cache showsrc --only-source "$DEB_PACKAGE" 2> /dev/null \
        | grep -qx "Version: $DEB_VERSION"
}

apt_source_help() {
    cat >&2 <<HELP
ext/update.sh: apt knows no source package $DEB_PACKAGE=$DEB_VERSION.
Either run 'sudo ext/update.sh --setup-apt $( ((check)) && echo --check)', which adds
$APT_SOURCES_FILE with

    Types: deb-src
    URIs: http://deb.debian.org/debian
    Suites: trixie
    Components: main
    Signed-By: $DEBIAN_KEYRING

and runs apt-get update (the keyring comes with the package
debian-archive-keyring), or set LIBFCGI_ORIG_TARBALL to a copy of
$orig_name (sha256 $expected_sha256).
HELP
    exit 2
}

setup_apt_source() {
    [ "$(id -u)" -eq 0 ] || die "--setup-apt must run as root (it writes $APT_SOURCES_FILE)"
    [ -f "$DEBIAN_KEYRING" ] \
        || die "$DEBIAN_KEYRING is missing; install the package debian-archive-keyring"
    printf '%s\n' \
        'Types: deb-src' \
        'URIs: http://deb.debian.org/debian' \
        'Suites: trixie' \
        'Components: main' \
        "Signed-By: $DEBIAN_KEYRING" > "$APT_SOURCES_FILE"
    apt-get update -qq >&2
}

# Prints the path of the verified orig tarball.
fetch_orig_tarball() {
    local tarball
    if [ -n "${LIBFCGI_ORIG_TARBALL:-}" ]; then
        tarball=$LIBFCGI_ORIG_TARBALL
        [ -f "$tarball" ] || die "LIBFCGI_ORIG_TARBALL=$tarball: no such file"
    else
        command -v apt-get > /dev/null \
            || die "apt-get not found; set LIBFCGI_ORIG_TARBALL to a copy of $orig_name"
        if ! apt_has_source; then
            ((setup_apt)) || apt_source_help
            setup_apt_source
            apt_has_source || die "apt still knows no $DEB_PACKAGE=$DEB_VERSION after --setup-apt"
        fi
        mkdir "$work/download"
        # apt's download user (_apt) must be able to write here, or apt
        # falls back to downloading as root with a warning.
        if [ "$(id -u)" -eq 0 ] && id _apt > /dev/null 2>&1; then
            chmod 0755 "$work"
            chown _apt "$work/download"
        fi
        (cd "$work/download" \
            && apt-get source --download-only -qq "$DEB_PACKAGE=$DEB_VERSION" > /dev/null) \
            || die "apt-get source --download-only $DEB_PACKAGE=$DEB_VERSION failed"
        # We vendor the orig tarball alone: stop if Debian starts carrying patches.
        if tar -tJf "$work/download/${DEB_PACKAGE}_${DEB_VERSION}.debian.tar.xz" \
                | grep -q '^debian/patches/.'; then
            die "Debian's $DEB_PACKAGE $DEB_VERSION carries patches (debian/patches); review them first"
        fi
        tarball=$work/download/$orig_name
    fi
    local actual
    actual=$(sha256_of "$tarball")
    [ "$actual" = "$expected_sha256" ] \
        || die "$tarball: sha256 $actual, expected $expected_sha256 (ext/upstream.sha256)"
    printf '%s\n' "$tarball"
}

tarball=$(fetch_orig_tarball)

# Extract only the vendored files, pristine, with ordinary file modes.
members=()
for f in "${FILES[@]}"; do
    members+=("$TOP_DIR/$f")
done
mkdir "$work/orig" "$work/fcgi2"
tar -xzf "$tarball" -C "$work/orig" "${members[@]}"
for f in "${FILES[@]}"; do
    mkdir -p "$work/fcgi2/$(dirname "$f")"
    cp "$work/orig/$TOP_DIR/$f" "$work/fcgi2/$f"
    chmod 0644 "$work/fcgi2/$f"
done

# Apply the patches in order.  git apply is strict (no fuzz); the ceiling
# keeps it from treating an enclosing repository as the tree to patch.
for patch in "$ext_dir"/patches/*.patch; do
    [ -e "$patch" ] || continue
    (cd "$work/fcgi2" && GIT_CEILING_DIRECTORIES="$work" git apply "$patch") \
        || die "patch does not apply: ${patch#"$ext_dir"/}"
done

if ((check)); then
    if diff -ru "$work/fcgi2" "$ext_dir/fcgi2"; then
        echo "ext/fcgi2 equals $orig_name + ext/patches"
    else
        echo "ext/fcgi2 differs from $orig_name + ext/patches (diff above); run ext/update.sh" >&2
        exit 1
    fi
else
    rm -rf "$ext_dir/fcgi2"
    cp -R "$work/fcgi2" "$ext_dir/fcgi2"
    echo "ext/fcgi2 re-created from $orig_name + ext/patches"
fi
