#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, for end-to-end tests and `make demo`:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet with Debian's containerd
# and runc, the bridge CNI, kube-proxy (iptables) and CoreDNS. Real pods, no registry: images are
# docker-archive tarballs imported with ctr (`load`). Needs Linux and root.
#
#   hack/local-cluster.sh build       build/cache every binary (first run ~15 min on 2 cores)
#   hack/local-cluster.sh up          start the cluster (~20 s once built); prints KUBECONFIG
#   hack/local-cluster.sh down        stop it and leave nothing behind
#   hack/local-cluster.sh status      what runs
#   hack/local-cluster.sh load T...   import image tarballs into the node
#   hack/local-cluster.sh leftovers   list what a cluster leaves on the host (exit 1 if anything)
#
# Binaries come from the same version-keyed cache as the test assets (hack/envtest-assets.sh):
# kube-apiserver, etcd, kubectl from its base directory; the controller-manager, scheduler,
# kubelet and kube-proxy from its "-extra" sibling; CoreDNS and a static pause binary from
# $RSCHED_CACHE/cluster. State lives in $RSCHED_CLUSTER_DIR (default /tmp/rsched-cluster).
#
# Three traps of this kind of VM, each handled below (docs/e2e.md):
#   1. CAP_SYS_RESOURCE is missing from the bounding set: runc cannot lower oom_score_adj, so
#      containerd must clamp it (restrict_oom_score_adj = true).
#   2. The host is cgroup v1: kubelet 1.35+ refuses it unless failCgroupV1: false.
#   3. Any outbound HTTP is answered with 404 by the VM, including ClusterIPs kube-proxy has not
#      programmed yet: two iptables rules make such traffic fail instead.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_PREFIX=local-cluster
# shellcheck source=hack/lib.sh
source "$HERE/lib.sh"

COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
WORK="${RSCHED_CLUSTER_DIR:-/tmp/rsched-cluster}"
NODE="${RSCHED_CLUSTER_NODE:-rsched-node}"
POD_SUBNET=10.244.0.0/24 CLUSTER_CIDR=10.244.0.0/16 SVC_CIDR=10.96.0.0/16 API_SVC_IP=10.96.0.1 DNS_IP=10.96.0.10
R="$WORK/run" L="$WORK/logs" P="$WORK/pki" C="$WORK/config" SOCK="$WORK/run/containerd.sock"
CLUSTER_CACHE="$RSCHED_CACHE/cluster"
export KUBECONFIG="$WORK/admin.kubeconfig"
# The pod network: "bridge" (default; NetworkPolicies are accepted but not enforced) or "cilium"
# (enforced). A running cluster remembers its own in $WORK/run/cni.
CNI="${RSCHED_CLUSTER_CNI:-bridge}"
[[ -f $R/cni ]] && CNI=$(cat "$R/cni")
case "$CNI" in bridge | cilium) ;; *) log "RSCHED_CLUSTER_CNI must be bridge or cilium, not $CNI"; exit 2 ;; esac
# shellcheck source=hack/cilium/cilium.sh
source "$HERE/cilium/cilium.sh"

ts() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(ts)" 'BEGIN { printf "%.1f", b - a }'; }

# bins: find (building on a cache miss) every binary; sets K8S_BASE, K8S_EXTRA, COREDNS, PAUSE.
bins() {
  K8S_BASE="$(ENVTEST_EXTRA_BINS="kube-controller-manager kube-scheduler kubelet kube-proxy" "$HERE/envtest-assets.sh")"
  K8S_EXTRA="$K8S_BASE-extra"
  COREDNS="$CLUSTER_CACHE/coredns-$COREDNS_VERSION/coredns"
  if [[ ! -x "$COREDNS" ]]; then
    with_lock "$CLUSTER_CACHE/.lock"
    if [[ ! -x "$COREDNS" ]]; then
      local t; t=$(date +%s)
      log "building CoreDNS $COREDNS_VERSION through the Go module proxy (~2-3 min)"
      mkdir -p "$(dirname "$COREDNS")"
      (cd / && GOBIN="$(dirname "$COREDNS").tmp" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION")
      mv "$(dirname "$COREDNS").tmp/coredns" "$COREDNS"; rmdir "$(dirname "$COREDNS").tmp"
      log "built CoreDNS in $(elapsed "$t")s"
    fi
  fi
  PAUSE="$CLUSTER_CACHE/pause-1/pause"
  if [[ ! -x "$PAUSE" ]]; then
    command -v gcc >/dev/null || packages
    mkdir -p "$(dirname "$PAUSE")"
    # The sandbox's init: exit on SIGINT/SIGTERM, reap children, sleep otherwise.
    cat > "$CLUSTER_CACHE/pause.c" <<'EOF'
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static void down(int s) { (void)s; exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, NULL, WNOHANG) > 0); }
int main(void) {
  struct sigaction a = {.sa_handler = down}, r = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
  if (sigaction(SIGINT, &a, NULL) || sigaction(SIGTERM, &a, NULL) || sigaction(SIGCHLD, &r, NULL)) return 1;
  for (;;) pause();
}
EOF
    gcc -Os -static -o "$PAUSE.tmp" "$CLUSTER_CACHE/pause.c" && strip "$PAUSE.tmp" && mv "$PAUSE.tmp" "$PAUSE"
  fi
}

packages() {
  local need=() c
  for c in containerd runc ctr iptables ipset conntrack gcc openssl curl python3; do command -v "$c" >/dev/null || need+=("$c"); done
  [[ -x /usr/lib/cni/bridge ]] || need+=(cni)
  [[ ${#need[@]} -eq 0 ]] && return 0
  [[ $(id -u) -eq 0 ]] || { log "missing ${need[*]}; install them as root (apt-get)"; exit 1; }
  log "installing Debian packages (missing: ${need[*]})"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends containerd runc containernetworking-plugins \
    iptables ipset conntrack gcc libc6-dev openssl curl python3 >&2
}

# image_tar ROOTDIR REF OUT ENTRYPOINT [UID:GID]: a docker-archive of one layer, no tool needed.
image_tar() {
  local root=$1 ref=$2 dest=$3 ep=$4 user=${5:-} t diff cfg o
  t=$(mktemp -d); o=${user:-0:0}
  tar --owner="${o%%:*}" --group="${o##*:}" --numeric-owner --mtime=@0 --sort=name -C "$root" -cf "$t/layer.tar" .
  diff=$(sha256sum "$t/layer.tar" | cut -d' ' -f1)
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["%s"]%s},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$ep" "${user:+,\"User\":\"$user\"}" "$diff" > "$t/config.json"
  cfg=$(sha256sum "$t/config.json" | cut -d' ' -f1); mv "$t/config.json" "$t/$cfg.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$cfg" "$ref" > "$t/manifest.json"
  tar -C "$t" -cf "$dest" manifest.json "$cfg.json" layer.tar; rm -rf "$t"
}

system_images() {
  mkdir -p "$WORK/images/pause" "$WORK/images/coredns"
  cp "$PAUSE" "$WORK/images/pause/pause"; image_tar "$WORK/images/pause" localhost/pause:rsched "$WORK/images/pause.tar" /pause 0:0
  cp "$COREDNS" "$WORK/images/coredns/coredns"; image_tar "$WORK/images/coredns" localhost/coredns:rsched "$WORK/images/coredns.tar" /coredns 65532:65532
}

waitfor() { # DESC TIMEOUT_S CMD... (the timeout is wall-clock: a check may itself take a while)
  local d=$1 t=$2 s end; shift 2; s=$(ts); end=$(($(date +%s) + t))
  while (($(date +%s) < end)); do
    if "$@" >/dev/null 2>&1; then log "$d ready (+$(since "$s")s)"; return 0; fi
    sleep 0.25
  done
  log "timed out after ${t}s waiting for $d (logs: $L)"; return 1
}
start() { # NAME CMD...
  local n=$1; shift
  if [[ -f "$R/$n.pid" ]] && kill -0 "$(cat "$R/$n.pid")" 2>/dev/null; then log "$n already running"; return; fi
  setsid "$@" > "$L/$n.log" 2>&1 < /dev/null & echo $! > "$R/$n.pid"
}
stop() { # NAME
  local f=$R/$1.pid p; [[ -f $f ]] || return 0; p=$(cat "$f")
  if kill -0 "$p" 2>/dev/null; then
    kill "$p"; for _ in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p"
  fi
  rm -f "$f"
}

hostip() {
  local ip
  ip=$(ip -4 -o route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
  [[ -n "$ip" ]] || ip=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1)
  echo "$ip"
}

kubectl() { "$K8S_BASE/kubectl" "$@"; }

pki() {
  [[ -f $P/ca.crt ]] && return 0
  mkdir -p "$P"
  (
    cd "$P"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -subj "/CN=rsched-local-cluster-ca" -days 3650 -out ca.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null; openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    cert() { # NAME CN O EKU [SAN]
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -subj "/CN=$2${3:+/O=$3}" -out "$1.csr" 2>/dev/null
      printf 'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n%s' "$4" "${5:+subjectAltName=$5}" > "$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
      rm "$1.csr" "$1.ext"
    }
    cert apiserver kube-apiserver "" serverAuth "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$API_SVC_IP,IP:$HOSTIP"
    cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters clientAuth
    cert admin admin system:masters clientAuth
    cert kubelet "system:node:$NODE" system:nodes clientAuth
    cert controller-manager system:kube-controller-manager "" clientAuth
    cert scheduler system:kube-scheduler "" clientAuth
    cert kube-proxy system:kube-proxy "" clientAuth
  )
  local n f
  for n in admin kubelet controller-manager scheduler kube-proxy; do
    f=$WORK/$n.kubeconfig
    kubectl --kubeconfig="$f" config set-cluster local --server=https://127.0.0.1:6443 --certificate-authority="$P/ca.crt" --embed-certs=true >/dev/null
    kubectl --kubeconfig="$f" config set-credentials "$n" --client-certificate="$P/$n.crt" --client-key="$P/$n.key" --embed-certs=true >/dev/null
    kubectl --kubeconfig="$f" config set-context local --cluster=local --user="$n" >/dev/null
    kubectl --kubeconfig="$f" config use-context local >/dev/null
  done
  chmod 600 "$WORK"/*.kubeconfig "$P"/*.key
}

# put FILE: replace FILE with stdin only when it differs (kube-proxy exits when its config changes).
put() { local t; t=$(mktemp); cat > "$t"; if cmp -s "$t" "$1"; then rm "$t"; else mv "$t" "$1"; chmod 644 "$1"; fi; }

configs() {
  mkdir -p "$C" "$WORK/cni/net.d"
  local cnibin=/usr/lib/cni
  [[ $CNI == cilium ]] && { cilium_cni_config; cnibin=$WORK/cni/bin; }
  put "$C/containerd.toml" <<EOF
version = 2
root = "$WORK/containerd/root"
state = "$WORK/containerd/state"
[grpc]
  address = "$SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$WORK/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:rsched"
  # This VM's bounding set lacks CAP_SYS_RESOURCE: a negative oom_score_adj makes runc fail.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$WORK/run/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$cnibin"
    conf_dir = "$WORK/cni/net.d"
EOF
  [[ $CNI == bridge ]] && put "$WORK/cni/net.d/10-rsched.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "rsched-net", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_SUBNET"}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$WORK/cni/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
  put "$C/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$SOCK
failSwapOn: false
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: $P/ca.crt}}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: [$DNS_IP]
podLogsDir: $WORK/pod-logs
# How often mounted Secrets are refreshed: a rotated keyring reaches pods within ~this long
# (docs/key-rotation.md recommends it for production too). The default is 1m.
syncFrequency: ${RSCHED_KUBELET_SYNC:-10s}
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 60
EOF
  put "$C/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $WORK/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $CLUSTER_CIDR
hostnameOverride: $NODE
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
nodePortAddresses: [primary]
conntrack: {maxPerCore: 0}
EOF
}

coredns_manifest() {
  cat <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- {apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:53 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
           pods insecure
           fallthrough in-addr.arpa ip6.arpa
        }
        forward . /etc/resolv.conf
        cache 30
        loop
        reload
        loadbalance
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      # Non-root and without capabilities, it binds port 53 because this (namespaced, "safe")
      # sysctl allows it; NetworkPolicies name port 53 for DNS, so the pod must listen there.
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        seccompProfile: {type: RuntimeDefault}
        sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: "53"}]
      containers:
      - name: coredns
        image: localhost/coredns:rsched
        imagePullPolicy: Never
        args: ["-conf", "/etc/coredns/Corefile"]
        ports: [{containerPort: 53, protocol: UDP}, {containerPort: 53, protocol: TCP}]
        readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
        livenessProbe: {httpGet: {path: /health, port: 8080}}
        resources: {limits: {memory: 170Mi}, requests: {cpu: 50m, memory: 70Mi}}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: ["ALL"]}}
        volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $DNS_IP
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, targetPort: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, targetPort: 53, protocol: TCP}
EOF
}

dns_ok() {
  python3 - "$DNS_IP" <<'EOF'
import socket, struct, sys
q = struct.pack('>HHHHHH', 7, 0x0100, 1, 0, 0, 0) + b''.join(bytes([len(p)]) + p.encode() for p in 'kubernetes.default.svc.cluster.local'.split('.')) + b'\0' + struct.pack('>HH', 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1); s.sendto(q, (sys.argv[1], 53)); d = s.recv(512)
sys.exit(0 if d[3] & 0xf == 0 and struct.unpack('>H', d[6:8])[0] > 0 else 1)
EOF
}

SYSCTLS='net.ipv4.ip_forward|vm.overcommit_memory|kernel.panic|kernel.panic_on_oops|vm.panic_on_oom|net.ipv4.conf.all.route_localnet'

up() {
  [[ $(uname -s) == Linux && $(id -u) -eq 0 ]] || { log "a real cluster needs Linux and root"; exit 1; }
  local t0; t0=$(ts)
  packages; bins
  [[ $CNI == cilium ]] && { cilium_packages; cilium_bins; }
  HOSTIP="$(hostip)"
  mkdir -p "$R" "$L"
  echo "$CNI" > "$R/cni"
  system_images; pki; configs
  [[ -f $R/sysctls.orig ]] || sysctl -a 2>/dev/null | grep -E "^($SYSCTLS) " > "$R/sysctls.orig"
  log "prepared (+$(since "$t0")s)"
  start containerd containerd --config "$C/containerd.toml"
  waitfor containerd 30 ctr -a "$SOCK" version
  ctr -a "$SOCK" -n k8s.io images import "$WORK/images/pause.tar" >/dev/null
  ctr -a "$SOCK" -n k8s.io images import "$WORK/images/coredns.tar" >/dev/null
  start etcd "$K8S_BASE/etcd" --name local --data-dir "$WORK/etcd" --listen-client-urls http://127.0.0.1:12379 \
    --advertise-client-urls http://127.0.0.1:12379 --listen-peer-urls http://127.0.0.1:12380 \
    --initial-advertise-peer-urls http://127.0.0.1:12380 --initial-cluster local=http://127.0.0.1:12380 \
    --listen-metrics-urls http://127.0.0.1:12381 --unsafe-no-fsync
  waitfor etcd 30 curl -sf http://127.0.0.1:12381/health
  start kube-apiserver "$K8S_BASE/kube-apiserver" --etcd-servers=http://127.0.0.1:12379 --bind-address=0.0.0.0 --secure-port=6443 \
    --advertise-address="$HOSTIP" --service-cluster-ip-range=$SVC_CIDR --allow-privileged=true \
    --client-ca-file="$P/ca.crt" --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local --service-account-key-file="$P/sa.pub" \
    --service-account-signing-key-file="$P/sa.key" --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --kubelet-client-certificate="$P/apiserver-kubelet-client.crt" --kubelet-client-key="$P/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname
  waitfor kube-apiserver 90 kubectl get --raw /readyz
  start kube-controller-manager "$K8S_EXTRA/kube-controller-manager" --kubeconfig="$WORK/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$WORK/controller-manager.kubeconfig" --authorization-kubeconfig="$WORK/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
    --cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key" \
    --allocate-node-cidrs=true --cluster-cidr=$CLUSTER_CIDR --node-cidr-mask-size=24 --service-cluster-ip-range=$SVC_CIDR
  start kube-scheduler "$K8S_EXTRA/kube-scheduler" --kubeconfig="$WORK/scheduler.kubeconfig" \
    --authentication-kubeconfig="$WORK/scheduler.kubeconfig" --authorization-kubeconfig="$WORK/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false
  start kubelet "$K8S_EXTRA/kubelet" --config="$C/kubelet.yaml" --kubeconfig="$WORK/kubelet.kubeconfig" --root-dir="$WORK/kubelet" \
    --cert-dir="$WORK/kubelet/pki" --hostname-override="$NODE" --node-ip="$HOSTIP"
  start kube-proxy "$K8S_EXTRA/kube-proxy" --config="$C/kube-proxy.yaml"
  # Traffic still addressed to the service CIDR after kube-proxy's DNAT has no Service behind it:
  # make it fail (host: reject; pods: drop, in mangle since REJECT is not allowed there) instead
  # of reaching the VM's HTTP interceptor, which answers 404 to everything.
  iptables -C OUTPUT -d $SVC_CIDR -m comment --comment rsched-cluster-svc -j REJECT 2>/dev/null ||
    iptables -I OUTPUT -d $SVC_CIDR -m comment --comment rsched-cluster-svc -j REJECT
  iptables -t mangle -C FORWARD -d $SVC_CIDR -m comment --comment rsched-cluster-svc -j DROP 2>/dev/null ||
    iptables -t mangle -I FORWARD -d $SVC_CIDR -m comment --comment rsched-cluster-svc -j DROP
  [[ $CNI == cilium ]] && cilium_up
  waitfor "node Ready" 120 kubectl wait "node/$NODE" --for=condition=Ready --timeout=1s
  waitfor "default ServiceAccount" 60 kubectl -n default get sa default
  waitfor kube-proxy 60 curl -sf http://127.0.0.1:10256/healthz
  coredns_manifest | kubectl apply -f - >/dev/null
  waitfor "cluster DNS" 120 dns_ok
  log "cluster up in $(since "$t0")s (pod network: $CNI); export KUBECONFIG=$KUBECONFIG"
}

load() { local f; for f in "$@"; do ctr -a "$SOCK" -n k8s.io images import "$f" >&2; done; }

down() {
  set +e +o pipefail # best effort: go on whatever is already gone
  local t0 m t c s h
  t0=$(ts)
  [[ -n "${K8S_BASE:-}" ]] || K8S_BASE="$(ENVTEST_EXTRA_BINS="kube-controller-manager kube-scheduler kubelet kube-proxy" "$HERE/envtest-assets.sh" 2>/dev/null)"
  K8S_EXTRA="$K8S_BASE-extra"
  if [[ -f $R/kubelet.pid ]] && kubectl get --raw /readyz >/dev/null 2>&1; then
    # Let the kubelet tear pods down (CNI DEL, volume unmounts); controllers first, so nothing returns.
    kubectl delete deploy,ds,sts,rs,job,cronjob --all -A --wait=false >/dev/null 2>&1
    kubectl delete pods --all -A --grace-period=1 --wait=false >/dev/null 2>&1
    for _ in $(seq 1 60); do [[ -z "$(ctr -a "$SOCK" -n k8s.io tasks ls -q 2>/dev/null)" ]] && break; sleep 0.5; done
  fi
  stop kube-proxy; [[ -x $K8S_EXTRA/kube-proxy ]] && "$K8S_EXTRA/kube-proxy" --cleanup >/dev/null 2>&1
  stop kubelet; stop kube-scheduler; stop kube-controller-manager; stop kube-apiserver; stop etcd
  if [[ -S $SOCK ]]; then
    for t in $(ctr -a "$SOCK" -n k8s.io tasks ls -q 2>/dev/null); do ctr -a "$SOCK" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
    sleep 0.5
    for t in $(ctr -a "$SOCK" -n k8s.io tasks ls -q 2>/dev/null); do ctr -a "$SOCK" -n k8s.io tasks rm -f "$t" >/dev/null 2>&1; done
    for c in $(ctr -a "$SOCK" -n k8s.io containers ls -q 2>/dev/null); do ctr -a "$SOCK" -n k8s.io containers rm "$c" >/dev/null 2>&1; done
  fi
  stop containerd
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $SOCK"); do kill "$p"; done
  [[ $CNI == cilium ]] && cilium_down
  awk '{print $2}' /proc/mounts | grep -E "^($WORK/|/run/netns/cni-)" | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
  rm -f /run/netns/cni-*; ip link del cni0 2>/dev/null
  for t in filter nat mangle raw; do
    iptables-save -t $t | grep -E '^-A' | grep -E -- '-j (KUBE-|CNI-|CILIUM_)' | sed 's/^-A/-D/' | while read -r r; do eval iptables -t $t "$r" 2>/dev/null; done
    for c in $(iptables-save -t $t 2>/dev/null | grep -oE '^:(KUBE-|CNI-|CILIUM_)[^ ]+' | tr -d :); do iptables -t $t -F "$c" 2>/dev/null; done
    for c in $(iptables-save -t $t 2>/dev/null | grep -oE '^:(KUBE-|CNI-|CILIUM_)[^ ]+' | tr -d :); do iptables -t $t -X "$c" 2>/dev/null; done
  done
  while iptables -D OUTPUT -d $SVC_CIDR -m comment --comment rsched-cluster-svc -j REJECT 2>/dev/null; do :; done
  while iptables -t mangle -D FORWARD -d $SVC_CIDR -m comment --comment rsched-cluster-svc -j DROP 2>/dev/null; do :; done
  for s in $(ipset list -n 2>/dev/null | grep -E '^(KUBE-|cilium_)'); do ipset destroy "$s" 2>/dev/null; done
  for h in /sys/fs/cgroup/*/; do [[ -d $h/kubepods ]] && find "$h/kubepods" -depth -type d -exec rmdir {} \; 2>/dev/null; done
  [[ -f $R/sysctls.orig ]] && restore_sysctls "$R/sysctls.orig"
  rm -rf "$WORK"
  log "down in $(since "$t0")s"
  set -e
}

# leftovers: what a cluster can leave on the host; prints each and fails if there is any.
leftovers() {
  local out=()
  [[ -d $WORK ]] && out+=("state directory $WORK")
  pgrep -f "$WORK" >/dev/null 2>&1 && out+=("processes: $(pgrep -fa "$WORK" | cut -c1-120 | tr '\n' ';')")
  grep -E " ($WORK/|/run/netns/cni-)" /proc/mounts >/dev/null && out+=("mounts: $(grep -cE " ($WORK/|/run/netns/cni-)" /proc/mounts)")
  compgen -G "/run/netns/cni-*" >/dev/null && out+=("network namespaces: $(compgen -G "/run/netns/cni-*" | wc -l)")
  ip link show cni0 >/dev/null 2>&1 && out+=("bridge cni0")
  ip -o link show 2>/dev/null | grep -q 'master cni0' && out+=("interfaces on cni0")
  local t
  for t in filter nat mangle raw; do
    iptables-save -t $t 2>/dev/null | grep -qE 'KUBE-|CNI-|CILIUM_|rsched-cluster' && out+=("iptables $t: $(iptables-save -t $t | grep -cE 'KUBE-|CNI-|CILIUM_|rsched-cluster') lines")
  done
  ipset list -n 2>/dev/null | grep -qE '^KUBE-' && out+=("ipsets")
  compgen -G "/sys/fs/cgroup/*/kubepods" >/dev/null && out+=("kubepods cgroups")
  cilium_leftovers
  if [[ ${#out[@]} -eq 0 ]]; then log "no leftovers"; return 0; fi
  printf 'leftover: %s\n' "${out[@]}"
  return 1
}

status() {
  local f n p
  for f in "$R"/*.pid; do
    [[ -e $f ]] || { echo "not running"; return 0; }
    n=$(basename "$f" .pid); p=$(cat "$f")
    if kill -0 "$p" 2>/dev/null; then echo "$n running ($p)"; else echo "$n DEAD ($p)"; fi
  done
  K8S_BASE="$(ENVTEST_EXTRA_BINS="kube-controller-manager kube-scheduler kubelet kube-proxy" "$HERE/envtest-assets.sh" 2>/dev/null)"
  kubectl get nodes -o wide 2>/dev/null || true
}

case "${1:-}" in
  build) packages; bins; if [[ $CNI == cilium ]]; then cilium_packages; cilium_bins; fi ;;
  up) up ;;
  down) down ;;
  status) status ;;
  load) shift; load "$@" ;;
  leftovers) leftovers ;;
  kubeconfig) echo "$KUBECONFIG" ;;
  *) echo "usage: $0 build|up|down|status|load <image.tar>...|leftovers|kubeconfig" >&2; exit 2 ;;
esac
