#!/usr/bin/env bash
# `make tools`: kind, helm and kubectl at the versions the Makefile pins (KIND_VERSION,
# HELM_VERSION, KUBECTL_VERSION; CI's workflow pins the same ones) into TOOLS_BIN (./bin),
# downloaded from each project's official release location and checked against a SHA-256.
#
# Where each checksum comes from:
#   kind     https://github.com/kubernetes-sigs/kind/releases/download/V/kind-OS-ARCH
#            + kind-OS-ARCH.sha256sum, published with the release
#   kubectl  https://dl.k8s.io/release/V/bin/OS/ARCH/kubectl + kubectl.sha256 (the Kubernetes
#            release's own checksum file, as https://kubernetes.io/docs/tasks/tools/ checks it)
#   helm     https://get.helm.sh/helm-V-OS-ARCH.tar.gz + .tar.gz.sha256sum (Helm's release
#            checksum file, as https://helm.sh/docs/intro/install/ checks it)
#
# A published checksum file fetched from the same place as the binary proves the download is
# whole and is the file the project published there; it does not protect against that place
# being compromised. For that, pin the expected digests in the repository: set KIND_SHA256,
# HELM_SHA256 and/or KUBECTL_SHA256 (hex, for this machine's OS/ARCH) and the download must
# match them as well as the published file. (They are not pinned here: the machine this was
# written on could not reach the release sites to read them.)
#
# A tool is downloaded once per version (a stamp in TOOLS_BIN/.versions). The download URLs
# can be replaced (KIND_URL, KIND_SHA256_URL, HELM_URL, HELM_SHA256_URL, KUBECTL_URL,
# KUBECTL_SHA256_URL), e.g. for a mirror; file:// URLs work.
set -euo pipefail

TOOLS_BIN="${TOOLS_BIN:-bin}"
KIND_VERSION="${KIND_VERSION:?KIND_VERSION is not set (the Makefile pins it)}"
HELM_VERSION="${HELM_VERSION:?HELM_VERSION is not set (the Makefile pins it)}"
KUBECTL_VERSION="${KUBECTL_VERSION:?KUBECTL_VERSION is not set (the Makefile pins it)}"

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

os="$(uname -s | tr '[:upper:]' '[:lower:]')"
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

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$TOOLS_BIN/.versions"

fetch() {
  curl --fail --silent --show-error --location --retry 3 --retry-delay 2 --connect-timeout 20 \
    --output "$2" "$1" || die "downloading $1 failed (no network? a proxy? the version $3 unpublished?)"
}

# verify NAME FILE CHECKSUM_FILE PINNED: the first field of CHECKSUM_FILE is the digest.
verify() {
  local name="$1" file="$2" published pinned="${4:-}" actual
  published="$(awk 'NR == 1 { print tolower($1) }' "$3")"
  [[ "$published" =~ ^[0-9a-f]{64}$ ]] || die "$name: the published checksum file holds no SHA-256: $(head -c 200 "$3")"
  actual="$(sha256 "$file")"
  [[ "$actual" == "$published" ]] ||
    die "$name: SHA-256 mismatch: downloaded $actual, published $published. Nothing was installed."
  if [[ -n "$pinned" ]]; then
    [[ "$actual" == "$(tr '[:upper:]' '[:lower:]' <<<"$pinned")" ]] ||
      die "$name: SHA-256 $actual is not the pinned ${name^^}_SHA256 $pinned. Nothing was installed."
  fi
  printf '%s: sha256 %s verified%s\n' "$name" "$actual" "${pinned:+ (and pinned)}" >&2
}

installed() { [[ -x "$TOOLS_BIN/$1" && -f "$TOOLS_BIN/.versions/$1-$2" ]]; }

mark() {
  rm -f "$TOOLS_BIN/.versions/$1-"*
  touch "$TOOLS_BIN/.versions/$1-$2"
  printf '%s %s installed in %s\n' "$1" "$2" "$TOOLS_BIN" >&2
}

install_kind() {
  installed kind "$KIND_VERSION" && return
  local base="https://github.com/kubernetes-sigs/kind/releases/download/$KIND_VERSION/kind-$os-$arch"
  fetch "${KIND_URL:-$base}" "$tmp/kind" "$KIND_VERSION"
  fetch "${KIND_SHA256_URL:-$base.sha256sum}" "$tmp/kind.sha256" "$KIND_VERSION"
  verify kind "$tmp/kind" "$tmp/kind.sha256" "${KIND_SHA256:-}"
  install -m 0755 "$tmp/kind" "$TOOLS_BIN/kind"
  mark kind "$KIND_VERSION"
}

install_kubectl() {
  installed kubectl "$KUBECTL_VERSION" && return
  local base="https://dl.k8s.io/release/$KUBECTL_VERSION/bin/$os/$arch/kubectl"
  fetch "${KUBECTL_URL:-$base}" "$tmp/kubectl" "$KUBECTL_VERSION"
  fetch "${KUBECTL_SHA256_URL:-$base.sha256}" "$tmp/kubectl.sha256" "$KUBECTL_VERSION"
  verify kubectl "$tmp/kubectl" "$tmp/kubectl.sha256" "${KUBECTL_SHA256:-}"
  install -m 0755 "$tmp/kubectl" "$TOOLS_BIN/kubectl"
  mark kubectl "$KUBECTL_VERSION"
}

install_helm() {
  installed helm "$HELM_VERSION" && return
  local base="https://get.helm.sh/helm-$HELM_VERSION-$os-$arch.tar.gz"
  fetch "${HELM_URL:-$base}" "$tmp/helm.tar.gz" "$HELM_VERSION"
  fetch "${HELM_SHA256_URL:-$base.sha256sum}" "$tmp/helm.sha256" "$HELM_VERSION"
  verify helm "$tmp/helm.tar.gz" "$tmp/helm.sha256" "${HELM_SHA256:-}"
  tar -xzf "$tmp/helm.tar.gz" -C "$tmp" "$os-$arch/helm" || die "helm: $os-$arch/helm is not in the archive"
  install -m 0755 "$tmp/$os-$arch/helm" "$TOOLS_BIN/helm"
  mark helm "$HELM_VERSION"
}

install_kind
install_kubectl
install_helm
