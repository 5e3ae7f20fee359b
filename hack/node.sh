#!/usr/bin/env bash
# A real single-node Kubernetes v1.20.2 cluster that runs pods, for `make test-node`: the
# control plane of hack/realkube.sh (kube-apiserver, kube-controller-manager, Debian's etcd) in
# an instance of its own, plus kube-scheduler, kubelet and kube-proxy built from the same
# Debian source tree, with Debian's containerd, runc and CNI plugins. Images come from
# archives imported into containerd (no registry).
#
#   hack/node.sh check          what this machine lacks to run the node (exit 1 and a message)
#   hack/node.sh build          the binaries (hack/realkube.sh build-node), the Debian packages
#                               and the pause image (once; cached)
#   hack/node.sh up             start everything (builds first if needed) and wait until the node
#                               is Ready; the kubeconfig path is the last line printed
#   hack/node.sh down           stop what `up` started; restore sysctls and iptables (WIPE=1
#                               also deletes etcd's, containerd's and the kubelet's state)
#   hack/node.sh status         which components run; exit 3 if not all of them
#   hack/node.sh import FILE    import an image archive (docker-archive) into containerd
#   hack/node.sh ctr ARGS...    ctr against the node's containerd, namespace k8s.io
#
# Everything lives in SCALEKEEPER_NODE_DIR (default ~/.cache/scalekeeper/node), outside the
# repository; the binaries are hack/realkube.sh's (SCALEKEEPER_REALKUBE_DIR). The script stops
# only processes it started (a PID from its PID files, and only while /proc/PID/exe is the
# expected binary), never kills by name, and restores what it changed on the host as it found
# it: net.ipv4.ip_forward (the CNI bridge sets it), net.ipv4.conf.all.route_localnet
# (kube-proxy sets it), kube-proxy's KUBE-* iptables chains, the bridge, its mounts. Paths the
# kubelet and containerd 1.6 hard-code are shared with the host: /var/log/pods,
# /var/log/containers, /var/lib/kubelet/device-plugins, /run/containerd/s/,
# /sys/fs/cgroup/*/kubepods.
#
# It needs root, cgroup v1 (or hybrid) with the cpu, memory and pids controllers, iptables and
# /dev/net/tun-free bridges: `check` says what is missing. Tested on Debian bookworm, 2 CPUs, no
# systemd (see ../shared/rknode for the traps: no CAP_SYS_RESOURCE, so containerd clamps
# oom_score_adj; the kubelet's own iptables chains are off).
#
# Ports: API 6643 (all addresses: pods reach it through the `kubernetes` Service), etcd
# 2579/2580, KCM 10457, scheduler 10459, kubelet 10650 (healthz 10651), kube-proxy healthz
# 10656 and metrics 10658. Pods: 10.88.0.0/16 on bridge skn0; Services: 10.0.0.0/24.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$(realpath -m "${SCALEKEEPER_NODE_DIR:-$HOME/.cache/scalekeeper/node}")"
REALKUBE_DIR="$(realpath -m "${SCALEKEEPER_REALKUBE_DIR:-$HOME/.cache/scalekeeper/realkube}")"
BIN="$REALKUBE_DIR/bin"
PKI="$DIR/pki"
LOGS="$DIR/logs"
KUBECONFIG_OUT="$DIR/kubeconfig"
SOCK="$DIR/containerd.sock"
ETCD_PORT=2579
ETCD_PEER_PORT=2580
APISERVER_PORT=6643
KCM_PORT=10457
SCHED_PORT=10459
KUBELET_PORT=10650
KUBELET_HEALTHZ_PORT=10651
PROXY_HEALTHZ_PORT=10656
PROXY_METRICS_PORT=10658
NODE_NAME=skn
POD_CIDR=10.88.0.0/16
SERVICE_CIDR=10.0.0.0/24
SERVICE_IP=10.0.0.1
# The CAs' names, the kubeconfigs' cluster and context, etcd's member.
CLUSTER_NAME=scalekeeper-node
BRIDGE=skn0
CNI_BIN=/usr/lib/cni
PAUSE_IMAGE=localhost/pause:3.4
PACKAGES=(containerd runc containernetworking-plugins iptables conntrack gcc libc6-dev openssl curl iproute2)
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)

log() { printf '[node] %s\n' "$*" >&2; }
die() {
  printf '[node] error: %s\n' "$*" >&2
  exit 1
}
usage() {
  sed -n '8,17p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
# Shared with hack/realkube.sh: the processes (start, stop, ...) and the PKI.
# shellcheck source=hack/proc.sh
source "$ROOT/hack/proc.sh"
# shellcheck source=hack/pki.sh
source "$ROOT/hack/pki.sh"

node_ip() { hostname -I 2>/dev/null | awk '{print $1}'; }

# ------------------------------------------------------------------ what the machine needs

# Fails with one message naming everything this machine lacks to run the node.
cmd_check() {
  local missing=() c
  [[ $(id -u) == 0 ]] || missing+=("root (the kubelet, containerd and kube-proxy change mounts, cgroups and iptables)")
  if [[ $(stat -fc %T /sys/fs/cgroup 2>/dev/null) != tmpfs ]]; then
    missing+=("cgroup v1 or hybrid at /sys/fs/cgroup (found $(stat -fc %T /sys/fs/cgroup 2>/dev/null || echo nothing); the v1.20 kubelet with cgroupfs is tested on v1 only)")
  fi
  for c in cpu memory pids; do
    [[ -d /sys/fs/cgroup/$c ]] || missing+=("the $c cgroup controller (/sys/fs/cgroup/$c)")
  done
  command -v iptables >/dev/null 2>&1 && ! iptables -w -t nat -S >/dev/null 2>&1 &&
    missing+=("a working iptables (iptables -t nat -S failed: no CAP_NET_ADMIN or no nat table)")
  [[ -w /proc/sys/net/ipv4/ip_forward ]] || missing+=("a writable /proc/sys/net/ipv4/ip_forward")
  [[ -n $(node_ip) ]] || missing+=("an IPv4 address (hostname -I is empty)")
  command -v apt-get >/dev/null 2>&1 || missing+=("apt-get (Debian bookworm) to install ${PACKAGES[*]}")
  if ((${#missing[@]})); then
    printf '[node] error: this machine cannot run the node; it lacks:\n' >&2
    printf '[node]   - %s\n' "${missing[@]}" >&2
    exit 1
  fi
  log "this machine can run the node (root, cgroup v1, iptables, IPv4 $(node_ip))"
}

# ------------------------------------------------------------------ build

ensure_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  log "installing ${missing[*]} (apt-get; no service is started)"
  apt-get update -qq
  # Debian's containerd postinst tries to start the service; without an init system it cannot,
  # and this script runs its own instance.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The pause image (the sandbox every pod shares): Kubernetes' build/pause/linux/pause.c from the
# source tree hack/realkube.sh unpacked, built static, packed by tools/image_archive.py.
build_pause() {
  local src="$REALKUBE_DIR/src/kubernetes-1.20.2/build/pause/linux/pause.c" out="$DIR/images"
  [[ -s $out/pause.tar && $out/pause.tar -nt $src ]] && return 0
  [[ -s $src ]] || die "$src is missing: hack/realkube.sh build unpacks it"
  mkdir -p "$out"
  gcc -Os -Wall -Werror -static -DVERSION=v3.4-scalekeeper -o "$out/pause" "$src"
  strip "$out/pause"
  python3 "$ROOT/tools/image_archive.py" --pause --binary "$out/pause" --tag "$PAUSE_IMAGE" \
    --output "$out/pause.tar" >&2
}

cmd_build() {
  cmd_check
  ensure_packages
  "$ROOT/hack/realkube.sh" build-node
  build_pause
  log "built: $BIN (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy), $DIR/images/pause.tar"
}

built() {
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
    [[ -x $BIN/$c ]] || return 1
  done
  [[ -s $DIR/images/pause.tar ]]
}

# ------------------------------------------------------------------ PKI and kubeconfigs

# The control plane's PKI (hack/pki.sh), with the node's address in kube-apiserver's
# certificate, plus the node's own: the kubelet's serving and client certificates, the
# scheduler's and kube-proxy's, and kube-apiserver's client certificate for the kubelet.
make_pki() {
  local ip
  ip=$(node_ip)
  mkdir -p "$PKI"
  # The node's address is in the serving certificates: regenerate them when it changed.
  if [[ -s $PKI/node-ip && $(<"$PKI/node-ip") != "$ip" ]]; then
    log "the node's address changed ($(<"$PKI/node-ip") -> $ip): new serving certificates"
    rm -f "$PKI/apiserver.crt" "$PKI/kubelet-server.crt"
  fi
  echo "$ip" >"$PKI/node-ip"
  make_control_plane_pki "IP:$ip"
  gen_cert kubelet-server "/CN=$NODE_NAME" ca "$SERVER_EXT
subjectAltName=DNS:$NODE_NAME,DNS:localhost,IP:$ip,IP:127.0.0.1"
  gen_cert scheduler /CN=system:kube-scheduler ca "$CLIENT_EXT"
  # The kubelet as a node (the Node authorizer and NodeRestriction are on).
  gen_cert kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" ca "$CLIENT_EXT"
  gen_cert kube-proxy /CN=system:kube-proxy ca "$CLIENT_EXT"
  # kube-apiserver -> kubelet (exec, logs, port-forward), authorized by the kubelet's webhook.
  gen_cert apiserver-kubelet-client /O=system:masters/CN=kube-apiserver-kubelet-client ca "$CLIENT_EXT"
  write_kubeconfig "$DIR/scheduler.kubeconfig" scheduler
  write_kubeconfig "$DIR/kubelet.kubeconfig" kubelet-client
  write_kubeconfig "$DIR/kube-proxy.kubeconfig" kube-proxy
}

# ------------------------------------------------------------------ components (start, stop: hack/proc.sh)

kubectl_node() { kubectl --kubeconfig "$KUBECONFIG_OUT" "$@"; }
CTR=(/usr/bin/ctr --address "$SOCK" -n k8s.io)

# Remembers a sysctl's value before the node changes it (restored by down).
save_sysctl() { # file-under-/proc/sys name
  [[ -s $DIR/$2.orig ]] || cat "/proc/sys/$1" >"$DIR/$2.orig"
}

start_control_plane() {
  local ip=$1
  start_etcd "$CLUSTER_NAME"

  # All addresses: pods reach the API through the `kubernetes` Service, which kube-proxy sends
  # to the advertised address.
  start kube-apiserver "$APISERVER_PORT" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 0.0.0.0 --secure-port "$APISERVER_PORT" --insecure-port 0 --advertise-address "$ip" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --api-audiences https://kubernetes.default.svc.cluster.local \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
    --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
    --cert-dir "$PKI/apiserver-certs" --v 1
  wait_ready kube-apiserver 120 readyz

  # `disruption` keeps PodDisruptionBudgets' status, which the eviction API reads.
  start kube-controller-manager "$KCM_PORT" \
    --kubeconfig "$DIR/kcm.kubeconfig" \
    --authentication-kubeconfig "$DIR/kcm.kubeconfig" --authorization-kubeconfig "$DIR/kcm.kubeconfig" \
    --leader-elect=false --use-service-account-credentials=false \
    --controllers deployment,replicaset,garbagecollector,namespace,serviceaccount,serviceaccount-token,nodelifecycle,endpoint,endpointslice,podgc,ttl,disruption,clusterrole-aggregation \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --port 0 --cert-dir "$PKI/kcm-certs" --v 1
  wait_ready kube-controller-manager 60 curl -fsSk --max-time 5 "https://127.0.0.1:$KCM_PORT/healthz"

  start kube-scheduler "$SCHED_PORT" \
    --kubeconfig "$DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig "$DIR/scheduler.kubeconfig" --authorization-kubeconfig "$DIR/scheduler.kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --port 0 \
    --cert-dir "$PKI/scheduler-certs" --v 1
  wait_ready kube-scheduler 60 curl -fsSk --max-time 5 "https://127.0.0.1:$SCHED_PORT/healthz"
}

start_containerd() {
  mkdir -p "$DIR/cni"
  # The bridge plugin (isGateway) sets net.ipv4.ip_forward=1.
  save_sysctl net/ipv4/ip_forward ip_forward
  cat >"$DIR/cni/10-scalekeeper-node.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "scalekeeper-node",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}],
              "dataDir": "$DIR/cni-ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat >"$DIR/containerd.toml" <<EOF
version = 2
root = "$DIR/containerd/root"
state = "$DIR/containerd/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # Without CAP_SYS_RESOURCE runc cannot lower oom_score_adj (the sandbox gets -998) and fails
  # with "can't get final child's PID from pipe: EOF": clamp to containerd's own value.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
        Root = "$DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$DIR/cni"
    max_conf_num = 1
EOF
  start containerd - --config "$DIR/containerd.toml" --log-level info
  wait_ready containerd 30 /usr/bin/ctr --address "$SOCK" version
  "${CTR[@]}" images import "$DIR/images/pause.tar" >/dev/null
}

start_kubelet() {
  local ip=$1
  cat >"$DIR/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $PKI/kubelet-server.crt
tlsPrivateKeyFile: $PKI/kubelet-server.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
failSwapOn: false
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
# Images come from archives: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
# Keep the kubelet out of the host's iptables (KUBE-FIREWALL, KUBE-POSTROUTING, canaries).
makeIPTablesUtilChains: false
EOF
  start kubelet "$KUBELET_PORT" \
    --config "$DIR/kubelet-config.yaml" --kubeconfig "$DIR/kubelet.kubeconfig" \
    --hostname-override "$NODE_NAME" --node-ip "$ip" \
    --root-dir "$DIR/kubelet" --cert-dir "$PKI/kubelet-certs" --volume-plugin-dir "$DIR/kubelet-plugins" \
    --container-runtime remote --container-runtime-endpoint "unix://$SOCK" --runtime-request-timeout 5m \
    --pod-infra-container-image "$PAUSE_IMAGE" --v 1
  wait_ready kubelet 60 curl -fsS --max-time 5 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz"
}

start_kube_proxy() {
  # kube-proxy sets route_localnet=1 so that NodePorts answer on 127.0.0.1.
  save_sysctl net/ipv4/conf/all/route_localnet route_localnet
  start kube-proxy "$PROXY_HEALTHZ_PORT" --kubeconfig "$DIR/kube-proxy.kubeconfig" --hostname-override "$NODE_NAME" \
    --proxy-mode iptables --cluster-cidr "$POD_CIDR" --oom-score-adj 0 --conntrack-max-per-core 0 \
    --healthz-bind-address "127.0.0.1:$PROXY_HEALTHZ_PORT" --metrics-bind-address "127.0.0.1:$PROXY_METRICS_PORT" --v 1
  wait_ready kube-proxy 30 curl -fsS --max-time 5 "http://127.0.0.1:$PROXY_HEALTHZ_PORT/healthz"
}

# ------------------------------------------------------------------ commands

cmd_up() {
  local t0=$SECONDS ip i
  cmd_check
  built || cmd_build
  ip=$(node_ip)
  mkdir -p "$DIR" "$LOGS"
  make_pki
  start_control_plane "$ip"
  start_containerd
  start_kubelet "$ip"
  start_kube_proxy
  for ((i = 0; i < 120; i++)); do
    [[ $(kubectl_node get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]] && break
    sleep 0.5
  done
  [[ $(kubectl_node get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]] ||
    die "node $NODE_NAME not Ready after 60 s (logs: $LOGS/kubelet.log)"
  log "node $NODE_NAME Ready at $ip in $((SECONDS - t0)) s; KUBECONFIG=$KUBECONFIG_OUT"
  echo "$KUBECONFIG_OUT"
}

# Removes the KUBE-* chains kube-proxy --cleanup leaves (KUBE-MARK-*, canaries) once nothing
# references them.
iptables_cleanup() {
  local tc t c refs
  for tc in filter:KUBE-FIREWALL filter:KUBE-KUBELET-CANARY filter:KUBE-PROXY-CANARY \
    nat:KUBE-POSTROUTING nat:KUBE-MARK-DROP nat:KUBE-MARK-MASQ nat:KUBE-KUBELET-CANARY nat:KUBE-PROXY-CANARY \
    mangle:KUBE-KUBELET-CANARY mangle:KUBE-PROXY-CANARY; do
    t=${tc%%:*} c=${tc#*:}
    refs=$(iptables -w -t "$t" -L "$c" -n 2>/dev/null | head -1 | sed -n 's/.*(\([0-9]*\) references).*/\1/p' || true)
    [[ -n $refs ]] || continue
    if [[ $refs != 0 ]]; then
      log "iptables: $t/$c still has $refs references, left alone"
      continue
    fi
    iptables -w -t "$t" -F "$c" 2>/dev/null || true
    iptables -w -t "$t" -X "$c" 2>/dev/null || true
  done
}

restore_sysctl() { # file-under-/proc/sys name
  if [[ -s $DIR/$2.orig ]]; then
    cat "$DIR/$2.orig" >"/proc/sys/$1"
    log "$2 restored to $(<"$DIR/$2.orig")"
    rm -f "$DIR/$2.orig"
  fi
}

cmd_down() {
  local ids id pf pid m v
  if pid_of kube-proxy >/dev/null; then
    stop kube-proxy
    "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  fi
  # Also after a down that was interrupted: only chains nothing references go.
  iptables_cleanup
  log "iptables: $(iptables-save 2>/dev/null | grep -c KUBE || true) KUBE lines left"
  restore_sysctl net/ipv4/conf/all/route_localnet route_localnet
  stop kubelet
  # The pods' containers: SIGKILL through containerd's API, then delete the tasks so that the
  # shims (children of this containerd) exit.
  if pid_of containerd >/dev/null; then
    ids=$("${CTR[@]}" tasks ls -q 2>/dev/null || true)
    for id in $ids; do "${CTR[@]}" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    for id in $ids; do "${CTR[@]}" tasks delete -f "$id" >/dev/null 2>&1 || true; done
    [[ -z $ids ]] || log "containers: killed $(wc -w <<<"$ids")"
  fi
  stop containerd
  # Shims still alive: only ours (their -address is this containerd's socket).
  for pf in "$DIR"/containerd/state/io.containerd.runtime.v2.task/k8s.io/*/shim.pid; do
    [[ -s $pf ]] || continue
    pid=$(<"$pf")
    [[ $(readlink -f "/proc/$pid/exe" 2>/dev/null) == */containerd-shim-runc-v2 ]] || continue
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "-address $SOCK " || continue
    kill -KILL "$pid" 2>/dev/null && log "shim: killed leftover pid $pid"
  done
  stop kube-scheduler
  stop kube-controller-manager
  stop kube-apiserver "$APISERVER_GRACE"
  stop etcd
  # What a reboot would clear: mounts under DIR (deepest first), the netns pins, the bridge.
  { grep -F " $DIR/" /proc/mounts || true; } | awk '{print $2}' | awk '{print length, $0}' | sort -rn | cut -d' ' -f2- |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"; done
  rm -f "$DIR"/containerd/state/io.containerd.grpc.v1.cri/netns/cni-* 2>/dev/null || true
  if ip -d link show "$BRIDGE" 2>/dev/null | grep -q 'bridge '; then
    for v in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
      ip link del "$v" 2>/dev/null || true
    done
    ip link del "$BRIDGE" && log "deleted bridge $BRIDGE"
  fi
  restore_sysctl net/ipv4/ip_forward ip_forward
  # The kubelet's QoS cgroups, once empty.
  for m in /sys/fs/cgroup/*/kubepods; do
    [[ -d $m ]] && find "$m" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  if [[ -n ${WIPE:-} ]]; then
    rm -rf "$DIR/etcd" "$DIR/containerd" "$DIR/kubelet" "$DIR/cni-ipam" "$DIR/runc"
    log "deleted etcd's, containerd's and the kubelet's state in $DIR"
  fi
}

cmd_status() {
  local c pid all=0
  for c in "${COMPONENTS[@]}"; do
    if pid=$(pid_of "$c"); then echo "$c: running (pid $pid)"; else
      echo "$c: stopped"
      all=3
    fi
  done
  echo "kubeconfig: $KUBECONFIG_OUT"
  return $all
}

cmd_import() {
  local file=${1:-}
  [[ -s $file ]] || die "import: no image archive '$file'"
  pid_of containerd >/dev/null || die "containerd is not running: hack/node.sh up"
  "${CTR[@]}" images import "$file" >&2
}

case "${1:-}" in
  check) cmd_check ;;
  build) cmd_build ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  import) cmd_import "${2:-}" ;;
  ctr)
    shift
    "${CTR[@]}" "$@"
    ;;
  *) usage ;;
esac
