# shellcheck shell=bash
# shellcheck disable=SC2154 # DIR, LOGS, BIN, PKI and the ports are set by the sourcing script
# The processes of hack/realkube.sh and hack/node.sh: each component runs its binary in a
# session of its own, with its PID in DIR/NAME.pid and its output in LOGS/NAME.log. A
# component is stopped only through its PID file, and only while /proc/PID/exe is still its
# binary: never by name. Sourced, never run.
#
# The sourcing script sets DIR, LOGS, BIN (the Kubernetes binaries), PKI (for readyz),
# APISERVER_PORT, ETCD_PORT and ETCD_PEER_PORT, and defines log and die, which carry its
# prefix ([realkube], [node]).

# Debian's etcd (etcd-server) and containerd.
ETCD=/usr/bin/etcd
CONTAINERD=/usr/bin/containerd

# kube-apiserver closes its listener at once on SIGTERM but then waits (20 s and more) for
# open watches to drain; 3 s is enough for it to finish what is in flight. (hack/node.sh gave
# it 5 s without a reason; by its `down` the kubelet, the pods and the controllers that held
# watches are already stopped.)
# shellcheck disable=SC2034 # used by the sourcing scripts: stop kube-apiserver "$APISERVER_GRACE"
APISERVER_GRACE=3

# What stop waits after SIGTERM before SIGKILL, for every other component. hack/realkube.sh
# waited 20 s, hack/node.sh 15 s; 20 s is kept: the wait ends as soon as the process exits, so
# the grace costs time only for a component that hangs, and etcd, whose data both scripts keep
# from one `up` to the next, should not be cut short while it can still finish on its own.
STOP_GRACE=20

# The binary component $1 runs: Debian's etcd and containerd, the rest from BIN.
binary_of() {
  case $1 in
    etcd) readlink -f "$ETCD" ;;
    containerd) readlink -f "$CONTAINERD" ;;
    *) readlink -f "$BIN/$1" ;;
  esac
}

# The PID of component $1 if its PID file names a live process of its binary (a zombie has
# no exe link, so it does not count).
pid_of() {
  local pf="$DIR/$1.pid" pid exe
  [[ -s $pf ]] || return 1
  pid=$(<"$pf")
  exe=$(readlink -f "/proc/$pid/exe" 2>/dev/null) || return 1
  # A binary rebuilt while its process runs shows as "PATH (deleted)": still ours.
  [[ ${exe% (deleted)} == "$(binary_of "$1")" ]] || return 1
  echo "$pid"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start name port args...: starts the component in its own session unless it runs already.
# port (- for none) must be free on 127.0.0.1 unless the component is ours.
start() {
  local name=$1 port=$2 pid i
  shift 2
  if pid=$(pid_of "$name"); then
    log "$name already running (pid $pid)"
    return 0
  fi
  [[ $port == - ]] || ! port_in_use "$port" ||
    die "port 127.0.0.1:$port (for $name) is in use by a process this script did not start"
  mkdir -p "$LOGS"
  if [[ $port == - ]]; then
    log "starting $name (log: $LOGS/$name.log)"
  else
    log "starting $name, port $port (log: $LOGS/$name.log)"
  fi
  setsid "$(binary_of "$name")" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$DIR/$name.pid"
  # The child is this shell, then setsid, then the binary: until the last exec lands, its
  # /proc/PID/exe is not the binary, and pid_of would take a component on its way up for one
  # that exited (seen on a loaded machine: "kube-controller-manager exited" while it ran).
  for ((i = 0; i < 100; i++)); do
    [[ $(readlink -f "/proc/$pid/exe" 2>/dev/null) == "$(binary_of "$name")" ]] && return 0
    kill -0 "$pid" 2>/dev/null || return 0 # gone: wait_ready reports it, with its log
    sleep 0.05
  done
}

# wait_ready name seconds probe...: polls the probe until it succeeds; fails early if the
# component exits.
wait_ready() {
  local name=$1 deadline=$((SECONDS + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ! pid_of "$name" >/dev/null; then
      tail -n 20 "$LOGS/$name.log" >&2 || true
      die "$name exited (log: $LOGS/$name.log)"
    fi
    ((SECONDS < deadline)) || die "$name not ready after $2 s (log: $LOGS/$name.log)"
    sleep 0.2
  done
  log "$name ready"
}

# stop name [grace]: SIGTERM (SIGKILL after grace seconds, default STOP_GRACE) to the PID in
# its PID file, only if that is still the component's binary.
stop() {
  local name=$1 grace=${2:-$STOP_GRACE} pf="$DIR/$1.pid" pid deadline
  if [[ ! -s $pf ]]; then
    log "$name: not running (no PID file)"
    return 0
  fi
  if ! pid=$(pid_of "$name"); then
    log "$name: PID $(<"$pf") is not $name any more; nothing to stop"
    rm -f "$pf"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + grace))
  while pid_of "$name" >/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  if pid_of "$name" >/dev/null; then
    log "$name: pid $pid still running ${grace} s after SIGTERM: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while pid_of "$name" >/dev/null; do sleep 0.1; done
  fi
  rm -f "$pf"
  log "$name: stopped (pid $pid)"
}

# kube-apiserver's /readyz, as the admin user of PKI.
readyz() {
  curl -fsS --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz"
}

# start_etcd NAME: etcd as the single member NAME (kept in its data: keep the name) with its
# data in DIR/etcd, clients on 127.0.0.1:ETCD_PORT, peers on 127.0.0.1:ETCD_PEER_PORT.
start_etcd() {
  local name=$1
  if port_in_use "$ETCD_PEER_PORT" && ! pid_of etcd >/dev/null; then
    die "port 127.0.0.1:$ETCD_PEER_PORT (etcd peer) is in use by a process this script did not start"
  fi
  start etcd "$ETCD_PORT" --name "$name" --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "$name=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
    --quota-backend-bytes 2147483648 --logger zap --log-outputs stderr
  wait_ready etcd 30 curl -fsS --max-time 5 "http://127.0.0.1:$ETCD_PORT/health"
}
