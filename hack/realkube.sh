#!/usr/bin/env bash
# A real Kubernetes control plane for the differential tests (`make test-real`): upstream
# kube-apiserver and kube-controller-manager v1.20.2, built from Debian bookworm's
# `kubernetes` source package with Debian's Go 1.19, plus Debian's etcd 3.4, all on loopback.
# There is no kubelet and no scheduler: pods are created but never run.
#
#   hack/realkube.sh build            build the two binaries (once; cached)
#   hack/realkube.sh build-node       also kube-scheduler, kubelet, kube-proxy (for hack/node.sh)
#   hack/realkube.sh up               start etcd, kube-apiserver, kube-controller-manager (builds
#                                     first if needed); the kubeconfig path is the last line printed
#   hack/realkube.sh down             stop them (WIPE=1 also deletes etcd's data)
#   hack/realkube.sh status           which components run; exit 3 if not all of them
#   hack/realkube.sh apiserver-stop   stop only kube-apiserver (an API outage; etcd and KCM stay)
#   hack/realkube.sh apiserver-start  start it again and wait until /readyz answers
#
# Everything lives in SCALEKEEPER_REALKUBE_DIR (default ~/.cache/scalekeeper/realkube), outside
# the repository: bin/ (the binaries), src/ (the source package), pki/, etcd/ (data), logs/,
# kubeconfig and one PID file per component. Every command is idempotent. The script stops only
# processes it started: a PID from its PID files, and only while /proc/PID/exe is the expected
# binary. It never kills by name.
#
# Ports (127.0.0.1; chosen not to collide with `make kubesim` on 6443 or a default etcd):
# REALKUBE_APISERVER_PORT=16443 REALKUBE_ETCD_PORT=12379 REALKUBE_ETCD_PEER_PORT=12380
# REALKUBE_KCM_PORT=20257. REALKUBE_JOBS sets `go build -p` (default: the number of CPUs).
#
# The Debian packages it needs (golang-go, etcd-server, golang-github-modern-go-reflect2-dev)
# are installed with apt-get when missing, which needs root.
set -euo pipefail

DIR="$(realpath -m "${SCALEKEEPER_REALKUBE_DIR:-$HOME/.cache/scalekeeper/realkube}")"
BIN="$DIR/bin"
PKI="$DIR/pki"
LOGS="$DIR/logs"
KUBECONFIG_OUT="$DIR/kubeconfig"
APISERVER_PORT="${REALKUBE_APISERVER_PORT:-16443}"
ETCD_PORT="${REALKUBE_ETCD_PORT:-12379}"
ETCD_PEER_PORT="${REALKUBE_ETCD_PEER_PORT:-12380}"
KCM_PORT="${REALKUBE_KCM_PORT:-20257}"
JOBS="${REALKUBE_JOBS:-$(nproc 2>/dev/null || echo 1)}"
SERVICE_CIDR=10.0.0.0/24
SERVICE_IP=10.0.0.1

K8S_VERSION=v1.20.2
K8S_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56
DEB_SOURCE_VERSION=1.20.5+really1.20.2-1.1+deb12u1
PACKAGES=(golang-go etcd-server golang-github-modern-go-reflect2-dev)
# The CAs' names, the kubeconfigs' cluster and context, etcd's member.
CLUSTER_NAME=realkube

log() { printf '[realkube] %s\n' "$*" >&2; }
die() {
  printf '[realkube] error: %s\n' "$*" >&2
  exit 1
}
usage() {
  sed -n '7,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
# Shared with hack/node.sh: the processes (start, stop, ...) and the PKI.
# shellcheck source=hack/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/proc.sh"
# shellcheck source=hack/pki.sh
source "$(dirname "${BASH_SOURCE[0]}")/pki.sh"

# ------------------------------------------------------------------ Debian packages

APT_UPDATED=""
# Installs the Debian packages (and curl, openssl) that are missing; apt-get update at most once.
ensure_packages() {
  local missing=() p
  command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script needs a Debian system (bookworm) with apt-get to install ${PACKAGES[*]}"
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null 2>&1 ||
    die "missing Debian packages ${missing[*]}, and apt-get is not available to install them"
  [[ $(id -u) == 0 ]] ||
    die "missing Debian packages ${missing[*]}: installing them needs root (run as root, or: sudo apt-get install -y ${missing[*]})"
  log "installing ${missing[*]} (apt-get)"
  if [[ -z $APT_UPDATED ]]; then
    apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# ------------------------------------------------------------------ build

# A build into DIR by another process (hack/realkube.sh build, or the reference build.sh).
foreign_build_pid() {
  pgrep -f -- "build.sh $DIR( |\$)" 2>/dev/null | head -n1 || true
}

built() {
  local c
  for c in kube-apiserver kube-controller-manager; do
    [[ -x $BIN/$c ]] || return 1
    "$BIN/$c" --version 2>/dev/null | grep -qx "Kubernetes $K8S_VERSION" || return 1
  done
  [[ -z $(foreign_build_pid) ]]
}

cmd_build() {
  mkdir -p "$DIR"
  local pid
  pid=$(foreign_build_pid)
  if [[ -n $pid ]]; then
    log "a build into $DIR is already running (pid $pid): waiting for it instead of starting another"
    while [[ -d /proc/$pid ]]; do sleep 2; done
  fi
  if built; then
    log "binaries are built: $BIN ($K8S_VERSION)"
    return 0
  fi
  ensure_packages
  # One build at a time into DIR: a second `build` waits for the first, then finds the binaries.
  exec 9>"$DIR/build.lock"
  flock 9
  if built; then
    log "binaries are built: $BIN ($K8S_VERSION)"
    return 0
  fi
  do_build
  flock -u 9
}

do_build() {
  local start t src aptsrc uri
  start=$(date +%s)
  src="$DIR/src/kubernetes-1.20.2"
  mkdir -p "$BIN" "$DIR/src" "$DIR/tools" "$DIR/apt/lists/partial" "$DIR/apt/archives/partial"

  # 1. The source package: the full upstream tree with vendor/. apt gets its own lists and
  #    cache directories here, so the system's apt state is not touched.
  if [[ ! -d $src ]]; then
    t=$(date +%s)
    aptsrc="$DIR/apt/sources"
    if [[ ! -s $aptsrc/src.sources ]]; then
      mkdir -p "$aptsrc"
      uri=$(grep -h -m1 -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' || true)
      [[ -n $uri ]] || uri=$(grep -h -m1 -E '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' || true)
      [[ -n $uri ]] || uri=http://deb.debian.org/debian
      printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$uri" >"$aptsrc/src.sources"
    fi
    local apt=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$aptsrc"
      -o "Dir::State::Lists=$DIR/apt/lists" -o "Dir::Cache::Archives=$DIR/apt/archives"
      -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root)
    apt-get -qq "${apt[@]}" update
    (cd "$DIR/src" && apt-get -qq "${apt[@]}" source --download-only "kubernetes=$DEB_SOURCE_VERSION")
    tar -xzf "$DIR/src/kubernetes_1.20.5+really1.20.2.orig.tar.gz" -C "$DIR/src"
    log "build: source package downloaded and unpacked in $(($(date +%s) - t))s"
  fi

  # 2. Kubernetes 1.20 builds in GOPATH mode (its hack/lib/init.sh sets GO111MODULE=off);
  #    module mode with -mod=vendor fails on Go 1.19 ("updates to go.mod needed").
  mkdir -p "$DIR/gopath/src/k8s.io"
  ln -sfn "$src" "$DIR/gopath/src/k8s.io/kubernetes"
  export GOPATH="$DIR/gopath" GO111MODULE=off CGO_ENABLED=0 GOFLAGS=
  cd "$GOPATH/src/k8s.io/kubernetes"

  # 3. The vendored modern-go/reflect2 v1.0.1 reads Go runtime map internals that changed in
  #    Go 1.18: the API server dies with SIGSEGV on its first custom-resource write. Debian's
  #    golang-github-modern-go-reflect2-dev is the fixed v1.0.2.
  local r=vendor/github.com/modern-go/reflect2 d=/usr/share/gocode/src/github.com/modern-go/reflect2
  if [[ ! -f $r/go_above_118.go ]]; then
    rm -rf "${r:?}"/*
    cp "$d"/*.go "$d"/*.s "$r"/
    rm -f "$r"/*_test.go
  fi

  # 4. pkg/generated/openapi/zz_generated.openapi.go is not in the tarball (upstream's
  #    `make generated_files` writes it); without it: "undefined: openapi.GetOpenAPIDefinitions".
  #    openapi-gen on the inputs Makefile.generated_files uses.
  if [[ ! -s pkg/generated/openapi/zz_generated.openapi.go ]]; then
    t=$(date +%s)
    nice -n 19 go build -p "$JOBS" -o "$DIR/tools/openapi-gen" k8s.io/kubernetes/vendor/k8s.io/kube-openapi/cmd/openapi-gen
    local dirs tagfiles inputs
    dirs=$(find -H . \( -not \( \( -path './_*' -o -path './.*' -o -path ./vendor \) -prune \) \) -type f -name '*.go' |
      sed 's|^./staging/src|vendor|; s|/[^/]*$||; s|^./||' | LC_ALL=C sort -u)
    # shellcheck disable=SC2086 # word splitting of the directory list is intended
    tagfiles=$(for dd in $dirs; do find "$dd/" -maxdepth 1 -type f -name '*.go'; done | xargs grep -l '^// *+k8s:' |
      grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/')
    # shellcheck disable=SC2086
    inputs=$(grep -l '+k8s:openapi-gen=' $tagfiles | xargs -n1 dirname | LC_ALL=C sort -u |
      sed 's|^|k8s.io/kubernetes/|' | paste -sd,)
    nice -n 19 "$DIR/tools/openapi-gen" --logtostderr -i "$inputs" -p k8s.io/kubernetes/pkg/generated/openapi \
      -O zz_generated.openapi -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
      -r "$DIR/tools/KUBE_violations.report"
    diff -q "$DIR/tools/KUBE_violations.report" api/api-rules/violation_exceptions.list
    log "build: openapi-gen in $(($(date +%s) - t))s"
  fi

  # 5. The binaries.
  go_build kube-apiserver kube-controller-manager
  cd - >/dev/null
  log "built $("$BIN/kube-apiserver" --version) into $BIN in $(($(date +%s) - start))s"
}

# go_build COMPONENT...: builds cmd/COMPONENT from the unpacked tree into BIN, version-stamped
# as upstream's hack/lib/version.sh does; run in the tree with GOPATH set (do_build).
go_build() {
  local ldflags="-s -w" pkg c t build_date
  build_date=$(date -u +'%Y-%m-%dT%H:%M:%SZ')
  for pkg in k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version k8s.io/kubernetes/vendor/k8s.io/component-base/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=20"
    ldflags+=" -X $pkg.gitCommit=$K8S_COMMIT -X $pkg.gitTreeState=archive -X $pkg.buildDate=$build_date"
  done
  for c in "$@"; do
    t=$(date +%s)
    nice -n 19 go build -p "$JOBS" -tags selinux,notest -ldflags "$ldflags" -o "$BIN/$c.tmp" "k8s.io/kubernetes/cmd/$c"
    mv -f "$BIN/$c.tmp" "$BIN/$c"
    log "build: $c in $(($(date +%s) - t))s"
  done
}

# The node's binaries (hack/node.sh): kube-scheduler, kubelet and kube-proxy from the same tree
# and flags as the control plane, into BIN. Builds the control plane first if needed.
NODE_COMPONENTS=(kube-scheduler kubelet kube-proxy)
node_built() {
  local c
  for c in "${NODE_COMPONENTS[@]}"; do
    [[ -x $BIN/$c ]] || return 1
    "$BIN/$c" --version 2>/dev/null | grep -qx "Kubernetes $K8S_VERSION" || return 1
  done
}

cmd_build_node() {
  cmd_build
  if node_built; then
    log "node binaries are built: $BIN (${NODE_COMPONENTS[*]})"
    return 0
  fi
  exec 9>"$DIR/build.lock"
  flock 9
  if ! node_built; then
    export GOPATH="$DIR/gopath" GO111MODULE=off CGO_ENABLED=0 GOFLAGS=
    cd "$GOPATH/src/k8s.io/kubernetes"
    go_build "${NODE_COMPONENTS[@]}"
    cd - >/dev/null
  fi
  flock -u 9
}

# ------------------------------------------------------------------ components (start, stop: hack/proc.sh)

start_apiserver() {
  local adv
  adv=${REALKUBE_ADVERTISE_ADDRESS:-$(hostname -I 2>/dev/null | awk '{print $1}')}
  start kube-apiserver "$APISERVER_PORT" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --secure-port "$APISERVER_PORT" --insecure-port 0 \
    ${adv:+--advertise-address "$adv"} \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" --authorization-mode RBAC \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --api-audiences https://kubernetes.default.svc.cluster.local \
    --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
    --cert-dir "$PKI/apiserver-certs" --v 1
  wait_ready kube-apiserver 120 readyz
}

start_kcm() {
  start kube-controller-manager "$KCM_PORT" \
    --kubeconfig "$DIR/kcm.kubeconfig" \
    --authentication-kubeconfig "$DIR/kcm.kubeconfig" --authorization-kubeconfig "$DIR/kcm.kubeconfig" \
    --leader-elect=false --use-service-account-credentials=false \
    --controllers deployment,replicaset,garbagecollector,namespace,serviceaccount,serviceaccount-token,clusterrole-aggregation \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --port 0 --cert-dir "$PKI/kcm-certs" --v 1
  wait_ready kube-controller-manager 60 curl -fsSk --max-time 5 "https://127.0.0.1:$KCM_PORT/healthz"
}

# ------------------------------------------------------------------ commands

cmd_up() {
  ensure_packages
  built || cmd_build
  # shellcheck disable=SC2119 # no names beyond the default ones: the API listens on 127.0.0.1
  make_control_plane_pki
  start_etcd "$CLUSTER_NAME"
  start_apiserver
  start_kcm
  log "up: etcd $(pid_of etcd), kube-apiserver $(pid_of kube-apiserver) on https://127.0.0.1:$APISERVER_PORT," \
    "kube-controller-manager $(pid_of kube-controller-manager); KUBECONFIG=$KUBECONFIG_OUT"
  echo "$KUBECONFIG_OUT"
}

cmd_down() {
  stop kube-controller-manager
  stop kube-apiserver "$APISERVER_GRACE"
  stop etcd
  if [[ -n ${WIPE:-} ]]; then
    rm -rf "$DIR/etcd"
    log "deleted etcd's data ($DIR/etcd)"
  fi
}

cmd_status() {
  local c pid all=0
  for c in etcd kube-apiserver kube-controller-manager; do
    if pid=$(pid_of "$c"); then
      echo "$c: running (pid $pid)"
    else
      echo "$c: stopped"
      all=3
    fi
  done
  if readyz >/dev/null 2>&1; then
    echo "https://127.0.0.1:$APISERVER_PORT/readyz: ok"
  else
    echo "https://127.0.0.1:$APISERVER_PORT/readyz: not answering"
  fi
  if built; then echo "binaries: $BIN ($K8S_VERSION)"; else echo "binaries: not built"; fi
  echo "kubeconfig: $KUBECONFIG_OUT"
  return $all
}

cmd_apiserver_stop() { stop kube-apiserver "$APISERVER_GRACE"; }

cmd_apiserver_start() {
  pid_of etcd >/dev/null || die "etcd is not running: start the whole control plane with '$0 up'"
  start_apiserver
}

case "${1:-}" in
  build) cmd_build ;;
  build-node) cmd_build_node ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  apiserver-stop) cmd_apiserver_stop ;;
  apiserver-start) cmd_apiserver_start ;;
  *) usage ;;
esac
