# shellcheck shell=bash
# shellcheck disable=SC2154 # PKI, DIR and the other settings are set by the sourcing script
# The certificates and kubeconfigs of hack/realkube.sh and hack/node.sh (openssl). Every
# function keeps what exists: a key, a CA or a certificate is made only when its file is
# missing, so a control plane comes up again with the PKI of its first `up` (delete PKI to
# start over). Sourced, never run.
#
# The sourcing script sets PKI (the directory), DIR (the kubeconfigs of the components),
# KUBECONFIG_OUT (the admin's kubeconfig), CLUSTER_NAME (the CAs' names, and the cluster and
# context of the kubeconfigs), APISERVER_PORT and SERVICE_IP (the `kubernetes` Service's
# address), and defines log and die.

# The extensions of a client and of a server certificate.
CLIENT_EXT="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
SERVER_EXT="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth"

gen_key() { [[ -s $1 ]] || openssl genrsa -out "$1" 2048 2>/dev/null; }

# gen_ca name CN: PKI/name.{crt,key}, a self-signed CA, its certificate made again when either
# file is missing (a key that exists is kept: what it signed still verifies). Before, without
# a key hack/realkube.sh kept the certificate and hack/node.sh paired a new key with it: neither
# could sign anything that verifies.
gen_ca() {
  [[ -s $PKI/$1.crt && -s $PKI/$1.key ]] && return 0
  gen_key "$PKI/$1.key"
  openssl req -x509 -new -key "$PKI/$1.key" -subj "/CN=$2" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI/$1.crt" 2>/dev/null
}

# gen_cert name subject ca extensions: PKI/name.{crt,key} signed by PKI/ca; made when either
# file is missing (a key that exists is kept).
gen_cert() {
  [[ -s $PKI/$1.crt && -s $PKI/$1.key ]] && return 0
  gen_key "$PKI/$1.key"
  openssl req -new -key "$PKI/$1.key" -subj "$2" -out "$PKI/$1.csr" 2>/dev/null
  printf '%s\n' "$4" >"$PKI/$1.ext"
  openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$3.crt" -CAkey "$PKI/$3.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$PKI/$1.ext" -out "$PKI/$1.crt" 2>/dev/null
  rm -f "$PKI/$1.csr"
}

# write_kubeconfig file cert-name: a kubeconfig for https://127.0.0.1:APISERVER_PORT as the
# client certificate PKI/cert-name.
write_kubeconfig() {
  cat >"$1.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $CLUSTER_NAME
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: $CLUSTER_NAME
  context: {cluster: $CLUSTER_NAME, user: $2}
current-context: $CLUSTER_NAME
EOF
  mv -f "$1.tmp" "$1"
}

# make_control_plane_pki [SANS]: what the control plane needs in both scripts: the cluster CA
# and the front proxy's (request-header authentication, as kubeadm sets it up),
# kube-apiserver's serving certificate (its names, 127.0.0.1, SERVICE_IP, and SANS, e.g.
# IP:10.1.2.3), the admin (the tests' user) and kube-controller-manager
# (--use-service-account-credentials=false: the controllers act as this one identity, which
# therefore needs every controller's rights), both in system:masters, the front proxy's
# client and the ServiceAccount key pair; then the kubeconfigs KUBECONFIG_OUT (admin) and
# DIR/kcm.kubeconfig.
make_control_plane_pki() {
  mkdir -p "$PKI"
  gen_ca ca "$CLUSTER_NAME-ca"
  gen_ca front-proxy-ca "$CLUSTER_NAME-front-proxy-ca"
  gen_cert apiserver /CN=kube-apiserver ca "$SERVER_EXT
subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$SERVICE_IP${1:+,$1}"
  gen_cert admin /O=system:masters/CN=admin ca "$CLIENT_EXT"
  gen_cert kcm /O=system:masters/CN=system:kube-controller-manager ca "$CLIENT_EXT"
  gen_cert front-proxy-client /CN=front-proxy-client front-proxy-ca "$CLIENT_EXT"
  # A new key needs its own public half.
  [[ -s $PKI/sa.key ]] || rm -f "$PKI/sa.pub"
  gen_key "$PKI/sa.key"
  [[ -s $PKI/sa.pub ]] || openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  write_kubeconfig "$KUBECONFIG_OUT" admin
  write_kubeconfig "$DIR/kcm.kubeconfig" kcm
}
