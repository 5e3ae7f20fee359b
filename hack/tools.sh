#!/usr/bin/env bash
# `make tools`: kind, helm and kubectl at the versions the Makefile pins (KIND_VERSION,
# HELM_VERSION, KUBECTL_VERSION; CI's workflows call `make tools`) into TOOLS_BIN (./bin),
# downloaded from each project's official release location and checked against a SHA-256
# pinned in this file (pinned_sha256 below), for linux and darwin, amd64 and arm64.
#
# What is downloaded, and the checksum file published beside it:
#   kind     https://github.com/kubernetes-sigs/kind/releases/download/V/kind-OS-ARCH
#            + kind-OS-ARCH.sha256sum
#   kubectl  https://dl.k8s.io/release/V/bin/OS/ARCH/kubectl + kubectl.sha256 (the binary)
#   helm     https://get.helm.sh/helm-V-OS-ARCH.tar.gz + .tar.gz.sha256sum (the archive)
#
# Two checks, both must pass before anything is installed:
#   1. the pinned digest (mandatory): a version/OS/arch with no digest pinned here fails,
#      unless KIND_SHA256, HELM_SHA256 or KUBECTL_SHA256 supplies one explicitly (hex, for
#      this machine's OS/ARCH; it must equal the pin when there is one). It protects against
#      the release site, or the path to it, serving a different file with a matching
#      checksum file.
#   2. the published checksum file: the download is whole and is the file the project
#      published there. On a mismatch with the pin it also tells which side moved.
#
# Bumping a version in the Makefile: add its four digests to pinned_sha256, taken from the
# project's checksum files and cross-checked against a second source (below), or `make tools`
# stops with a message naming the missing pin.
#
# A tool is downloaded once per version: TOOLS_BIN/.versions/TOOL-VERSION holds the verified
# digest, and a stamp with another digest (an earlier, unpinned install) means download again.
# The download URLs can be replaced (KIND_URL, KIND_SHA256_URL, HELM_URL, HELM_SHA256_URL,
# KUBECTL_URL, KUBECTL_SHA256_URL), e.g. for a mirror; file:// URLs work.
#
# Runs under macOS's bash 3.2: no associative arrays, mapfile or ${var^^}.
set -euo pipefail

TOOLS_BIN="${TOOLS_BIN:-bin}"
KIND_VERSION="${KIND_VERSION:?KIND_VERSION is not set (the Makefile pins it)}"
HELM_VERSION="${HELM_VERSION:?HELM_VERSION is not set (the Makefile pins it)}"
KUBECTL_VERSION="${KUBECTL_VERSION:?KUBECTL_VERSION is not set (the Makefile pins it)}"

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# pinned_sha256 TOOL VERSION OS ARCH: the SHA-256 of the file `make tools` downloads (the
# kind and kubectl binaries, helm's .tar.gz), or nothing.
#
# Where each digest was cross-checked (the release sites are not reachable from the machine
# this was written on; each value below was found in at least two independent places, and
# no other value was found for the same file unless noted):
#   kind v0.32.0     cert-manager's makefile-modules tool pins (all four), and many unrelated
#                    projects' pinned install scripts and Makefiles; two of them record
#                    checking the darwin values against the GitHub release's asset digests and
#                    .sha256sum files. One project pins other values for linux/amd64 and
#                    darwin/amd64 (6e811cf0..., 55b3f27c...); it is alone against the rest and
#                    was not used.
#   kubectl v1.36.1  cert-manager's makefile-modules tool pins (all four), plus independent
#                    projects' Dockerfiles and scripts for linux/amd64 and linux/arm64, and a
#                    macOS installer's pins for both darwin builds. (Kubernetes' CHANGELOG
#                    lists SHA-512s of tarballs, not of the kubectl binary.)
#   helm v4.2.4      Helm's GitHub release notes for v4.2.4, which list every archive's
#                    SHA-256, plus cert-manager's makefile-modules and other projects' pins.
pinned_sha256() {
  case "$1 $2 $3 $4" in
    "kind v0.32.0 linux amd64") echo 50030de23cf40a18505f20426f6a8506bedf13c6e509244bd1fa9463721b0f54 ;;
    "kind v0.32.0 linux arm64") echo b92cd615e97585de8ddade28ed5cd7feb4248d717c233eea5b03c37298900f5d ;;
    "kind v0.32.0 darwin amd64") echo 295ac6d0d634c9819c9907df45e3017d1f13166bd13c3404c45e79f7faa47498 ;;
    "kind v0.32.0 darwin arm64") echo dca67911095a110c2b5c36e26df6cac860c602033e456c0db47be498cdef1ebb ;;
    "kubectl v1.36.1 linux amd64") echo 629d3f410e09bf49b64ae7079f7f0bda1191efed311f7d37fdbab0ad5b0ec2b7 ;;
    "kubectl v1.36.1 linux arm64") echo 59f7ee8e477fae658447607dc3c8790ac17a1b016c01c622c12070e969e2d4e7 ;;
    "kubectl v1.36.1 darwin amd64") echo b4973e90ebb00537d735b63d6f8293c1959156e6ff435f6a43c08aeaa1a2e7d7 ;;
    "kubectl v1.36.1 darwin arm64") echo 9092778abaef3079449da4cd70ded0e4be112480c93efcdeace3155968d1d133 ;;
    "helm v4.2.4 linux amd64") echo c306b46f719b0a4da32d0f78ee21bf90ce8d602f15b22ab753f0674d1670a7f3 ;;
    "helm v4.2.4 linux arm64") echo 564de2191b881e9f71b5606b25345821ea1682f06ab90499d3ab22b530176da1 ;;
    "helm v4.2.4 darwin amd64") echo 6c163d687ca03c3b5c01928e53bbbcf9518278f47ce7a2f249a5a08e8bdaa2bc ;;
    "helm v4.2.4 darwin arm64") echo d747eb4e28bd2727173d15b759fa0a17822291ec09db7ced3d55af290a3661a2 ;;
    *) ;;
  esac
}

lower() { tr '[:upper:]' '[:lower:]'; }

os="$(uname -s | lower)"
case "$os" in
  linux | darwin) ;;
  *) die "unsupported OS '$os' (linux or darwin)" ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) die "unsupported architecture '$(uname -m)' (amd64 or arm64)" ;;
esac

for cmd in curl tar; do
  command -v "$cmd" >/dev/null 2>&1 || die "$cmd is required to install the tools"
done
if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | cut -d' ' -f1; }
else
  die "sha256sum or shasum is required to check the downloads"
fi

# expected_sha256 NAME VERSION OVERRIDE: the digest the download must have. The pin of this
# file; OVERRIDE (KIND_SHA256, ...) may supply one where there is no pin, and must equal the
# pin where there is one. Fails closed when there is neither.
expected_sha256() {
  local name="$1" version="$2" override pinned var
  override="$(printf '%s' "$3" | lower)"
  pinned="$(pinned_sha256 "$name" "$version" "$os" "$arch")"
  var="$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')_SHA256"
  if [[ -n "$override" ]]; then
    [[ "$override" =~ ^[0-9a-f]{64}$ ]] || die "$var='$3' is not a SHA-256 (64 hex digits)"
    if [[ -n "$pinned" && "$override" != "$pinned" ]]; then
      die "$var=$override contradicts the digest hack/tools.sh pins for $name $version $os/$arch ($pinned). Unset $var, or fix the pin if it is the one that is wrong."
    fi
    printf '%s\n' "$override"
  elif [[ -n "$pinned" ]]; then
    printf '%s\n' "$pinned"
  else
    die "$name $version has no SHA-256 pinned for $os/$arch in hack/tools.sh (pinned_sha256), so it is not installed. Add the digest of the release's checksum file, cross-checked against a second source, or set $var=<sha256 of the $os/$arch download> to pin it yourself for this run."
  fi
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$TOOLS_BIN/.versions"

fetch() {
  curl --fail --silent --show-error --location --retry 3 --retry-delay 2 --connect-timeout 20 \
    --output "$2" "$1" || die "downloading $1 failed (no network? a proxy? the version $3 unpublished?)"
}

# verify NAME FILE CHECKSUM_FILE EXPECTED: the file's digest must equal EXPECTED (the pin) and
# the first field of CHECKSUM_FILE (the published digest).
verify() {
  local name="$1" file="$2" expected="$4" published actual
  published="$(awk 'NR == 1 { print tolower($1) }' "$3")"
  [[ "$published" =~ ^[0-9a-f]{64}$ ]] || die "$name: the published checksum file holds no SHA-256: $(head -c 200 "$3")"
  actual="$(sha256 "$file")"
  if [[ "$actual" != "$expected" ]]; then
    if [[ "$actual" == "$published" ]]; then
      die "$name: SHA-256 $actual is not the pinned $expected, although the release site's checksum file agrees with the download: the file published for this version changed, or the pin is wrong. Nothing was installed."
    fi
    die "$name: SHA-256 $actual is not the pinned $expected (published checksum file: $published). Nothing was installed."
  fi
  [[ "$published" == "$expected" ]] ||
    die "$name: the download matches the pin $expected, but the published checksum file says $published. Nothing was installed."
  printf '%s: sha256 %s verified (pinned, and published)\n' "$name" "$actual" >&2
}

# installed NAME VERSION DIGEST: the tool is there, installed from a download with DIGEST.
installed() {
  [[ -x "$TOOLS_BIN/$1" && -f "$TOOLS_BIN/.versions/$1-$2" ]] &&
    [[ "$(cat "$TOOLS_BIN/.versions/$1-$2")" == "$3" ]]
}

mark() {
  rm -f "$TOOLS_BIN/.versions/$1-"*
  printf '%s\n' "$3" >"$TOOLS_BIN/.versions/$1-$2"
  printf '%s %s installed in %s\n' "$1" "$2" "$TOOLS_BIN" >&2
}

install_kind() {
  local expected base
  expected="$(expected_sha256 kind "$KIND_VERSION" "${KIND_SHA256:-}")"
  installed kind "$KIND_VERSION" "$expected" && return
  base="https://github.com/kubernetes-sigs/kind/releases/download/$KIND_VERSION/kind-$os-$arch"
  fetch "${KIND_URL:-$base}" "$tmp/kind" "$KIND_VERSION"
  fetch "${KIND_SHA256_URL:-$base.sha256sum}" "$tmp/kind.sha256" "$KIND_VERSION"
  verify kind "$tmp/kind" "$tmp/kind.sha256" "$expected"
  install -m 0755 "$tmp/kind" "$TOOLS_BIN/kind"
  mark kind "$KIND_VERSION" "$expected"
}

install_kubectl() {
  local expected base
  expected="$(expected_sha256 kubectl "$KUBECTL_VERSION" "${KUBECTL_SHA256:-}")"
  installed kubectl "$KUBECTL_VERSION" "$expected" && return
  base="https://dl.k8s.io/release/$KUBECTL_VERSION/bin/$os/$arch/kubectl"
  fetch "${KUBECTL_URL:-$base}" "$tmp/kubectl" "$KUBECTL_VERSION"
  fetch "${KUBECTL_SHA256_URL:-$base.sha256}" "$tmp/kubectl.sha256" "$KUBECTL_VERSION"
  verify kubectl "$tmp/kubectl" "$tmp/kubectl.sha256" "$expected"
  install -m 0755 "$tmp/kubectl" "$TOOLS_BIN/kubectl"
  mark kubectl "$KUBECTL_VERSION" "$expected"
}

install_helm() {
  local expected base
  expected="$(expected_sha256 helm "$HELM_VERSION" "${HELM_SHA256:-}")"
  installed helm "$HELM_VERSION" "$expected" && return
  base="https://get.helm.sh/helm-$HELM_VERSION-$os-$arch.tar.gz"
  fetch "${HELM_URL:-$base}" "$tmp/helm.tar.gz" "$HELM_VERSION"
  fetch "${HELM_SHA256_URL:-$base.sha256sum}" "$tmp/helm.sha256" "$HELM_VERSION"
  verify helm "$tmp/helm.tar.gz" "$tmp/helm.sha256" "$expected"
  tar -xzf "$tmp/helm.tar.gz" -C "$tmp" "$os-$arch/helm" || die "helm: $os-$arch/helm is not in the archive"
  install -m 0755 "$tmp/$os-$arch/helm" "$TOOLS_BIN/helm"
  mark helm "$HELM_VERSION" "$expected"
}

install_kind
install_kubectl
install_helm
