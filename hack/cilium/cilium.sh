# shellcheck shell=bash
# Cilium as the local cluster's CNI, so that NetworkPolicies are enforced. Sourced by
# hack/local-cluster.sh when RSCHED_CLUSTER_CNI=cilium; not executed on its own.
#
# Cilium runs as a native process (no image of it exists here): cilium-agent, the cilium-cni plugin
# and cilium-dbg are built from the Go module proxy (github.com/cilium/cilium, whose replace
# directives rule out `go install`, so the module is built in a writable copy), and the agent
# compiles its BPF programs at run time with Debian's clang. kube-proxy stays in charge of Services
# (kube-proxy replacement off); Cilium does pod networking (native routing on the node's podCIDR)
# and policy. Facts behind each flag are in docs/e2e.md ("NetworkPolicies on a real dataplane").
CILIUM_VERSION="${CILIUM_VERSION:-v1.15.19}"
CILIUM_CACHE="$CLUSTER_CACHE/cilium-$CILIUM_VERSION"
CILIUM_RUN=/var/run/cilium # the agent's API socket lives here; cilium-cni looks for it there
CILIUM_SYSCTLS='net.core.bpf_jit_enable|net.ipv4.conf.all.rp_filter|net.ipv4.fib_multipath_use_neigh|kernel.timer_migration|net.core.fb_tunnels_only_for_init_net'

cilium_packages() {
  local need=() c
  for c in clang bpftool ipset ip; do command -v "$c" >/dev/null || need+=("$c"); done
  [[ ${#need[@]} -eq 0 ]] && return 0
  [[ $(id -u) -eq 0 ]] || { log "missing ${need[*]} for Cilium; install them as root (apt-get)"; exit 1; }
  log "installing Debian packages for Cilium (missing: ${need[*]})"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang llvm bpftool ipset iproute2 libc6-dev >&2
}

# cilium_bins: cilium-agent, cilium-cni, cilium-dbg and the BPF sources in $CILIUM_CACHE.
cilium_bins() {
  [[ -x $CILIUM_CACHE/cilium-agent && -x $CILIUM_CACHE/cilium-cni && -x $CILIUM_CACHE/cilium-dbg && -d $CILIUM_CACHE/bpf ]] && return 0
  with_lock "$CLUSTER_CACHE/.lock"
  [[ -x $CILIUM_CACHE/cilium-agent && -x $CILIUM_CACHE/cilium-cni && -x $CILIUM_CACHE/cilium-dbg && -d $CILIUM_CACHE/bpf ]] && return 0
  local t mod src out ldf
  t=$(date +%s)
  log "building Cilium $CILIUM_VERSION (agent, CNI plugin, CLI) through the Go module proxy (~4 min on 2 cores with a warm Go cache)"
  mod=$(cd / && go mod download -json "github.com/cilium/cilium@$CILIUM_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d $mod ]] || { log "could not download github.com/cilium/cilium@$CILIUM_VERSION"; exit 1; }
  src=$(mktemp -d); out="$CILIUM_CACHE.tmp"
  rm -rf "$out"; mkdir -p "$out"
  cp -r "$mod/." "$src"; chmod -R u+w "$src"
  # The module zip carries vendor/modules.txt but no vendored code: build in module mode.
  rm -rf "$src/vendor"
  # This kernel has no loadable-module support (no /proc/modules), which the agent treats as fatal.
  patch -s -p1 -d "$src" < "$HERE/cilium/modules-without-module-support.patch"
  ldf="-s -w -X github.com/cilium/cilium/pkg/version.ciliumVersion=${CILIUM_VERSION#v}"
  local bin
  for bin in cilium-agent:./daemon cilium-cni:./plugins/cilium-cni cilium-dbg:./cilium-dbg; do
    (cd "$src" && GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 go build -trimpath -tags osusergo -ldflags "$ldf" -o "$out/${bin%%:*}" "${bin#*:}") ||
      { rm -rf "$src" "$out"; log "building ${bin%%:*} failed"; exit 1; }
  done
  cp -r "$src/bpf" "$out/bpf"
  mkdir -p "$out/crds"; cp "$src"/pkg/k8s/apis/cilium.io/client/crds/v2/*.yaml "$src"/pkg/k8s/apis/cilium.io/client/crds/v2alpha1/*.yaml "$out/crds/"
  rm -rf "$src" "$CILIUM_CACHE"; mv "$out" "$CILIUM_CACHE"
  log "built Cilium in $(elapsed "$t")s"
}

cilium_cni_config() {
  # containerd takes one CNI bin_dir: Debian's plugins (loopback) and cilium-cni side by side.
  mkdir -p "$WORK/cni/bin"
  local p
  for p in /usr/lib/cni/*; do ln -sf "$p" "$WORK/cni/bin/"; done
  ln -sf "$CILIUM_CACHE/cilium-cni" "$WORK/cni/bin/cilium-cni"
  rm -f "$WORK/cni/net.d/10-rsched.conflist"
}

cilium_up() {
  local lib="$WORK/cilium/lib"
  kubectl apply --server-side -f "$CILIUM_CACHE/crds/" >/dev/null
  waitfor "Cilium CRDs" 60 kubectl wait --for=condition=Established crd/ciliumnetworkpolicies.cilium.io crd/ciliumendpoints.cilium.io --timeout=1s
  waitfor "node podCIDR" 60 bash -c "[[ -n \$('$K8S_BASE/kubectl' get node '$NODE' -o jsonpath='{.spec.podCIDR}') ]]"
  # The agent writes into its BPF sources (feature headers), so it gets a copy.
  mkdir -p "$lib" "$WORK/cilium/etc"; rm -rf "$lib/bpf"; cp -r "$CILIUM_CACHE/bpf" "$lib/bpf"
  if ! grep -q ' /sys/fs/bpf bpf ' /proc/mounts; then mount -t bpf bpffs /sys/fs/bpf; touch "$R/bpffs-mounted"; fi
  [[ -f $R/cilium-sysctls.orig ]] || sysctl -a 2>/dev/null | grep -E "^($CILIUM_SYSCTLS) " > "$R/cilium-sysctls.orig"
  # The agent sets kernel.unprivileged_bpf_disabled=1, which only a reboot can undo. It runs in its
  # own mount namespace where that file is read-only (the agent ignores the error), so the host
  # keeps its setting (Debian's 2: unprivileged BPF disabled too, but changeable).
  # shellcheck disable=SC2016 # the inner script expands its own $f and "$@", not ours
  start cilium-agent unshare --mount --propagation slave -- bash -c '
    f=/proc/sys/kernel/unprivileged_bpf_disabled
    mount --bind "$f" "$f" && mount -o remount,bind,ro "$f" "$f" && exec "$@"' cilium \
    env K8S_NODE_NAME="$NODE" PATH="$PATH" "$CILIUM_CACHE/cilium-agent" \
    --k8s-kubeconfig-path="$WORK/admin.kubeconfig" \
    --identity-allocation-mode=crd --ipam=kubernetes --enable-ipv4=true --enable-ipv6=false \
    --routing-mode=native --ipv4-native-routing-cidr="$CLUSTER_CIDR" --enable-ipv4-masquerade=true --enable-bpf-masquerade=false \
    --kube-proxy-replacement=false --bpf-lb-sock=false \
    --enable-policy=default --policy-cidr-match-mode=nodes \
    --enable-l7-proxy=false --enable-hubble=false --enable-health-checking=false --enable-endpoint-health-checking=false \
    --cgroup-root=/sys/fs/cgroup/unified --lib-dir="$lib" --state-dir="$CILIUM_RUN" --bpf-root=/sys/fs/bpf
  waitfor "Cilium agent" 300 "$CILIUM_CACHE/cilium-dbg" status --brief
  # The network config is written once the agent is ready, in place and in one write: containerd
  # 1.6 reloads its CNI config on write, rename and remove events but ignores create events, so a
  # file renamed into place (or the agent's own temp-file-and-rename) is never loaded.
  printf '{"cniVersion": "0.3.1", "name": "cilium", "plugins": [{"type": "cilium-cni", "log-file": "%s"}]}\n' \
    "$L/cilium-cni.log" > "$WORK/cni/net.d/05-cilium.conflist"
}

# cilium_down runs after the workloads and containerd are gone; down() then removes the CILIUM_*
# iptables chains and, once nothing refers to them, the cilium_* ipsets.
cilium_down() {
  stop cilium-agent
  [[ -x $CILIUM_CACHE/cilium-dbg ]] && "$CILIUM_CACHE/cilium-dbg" cleanup --all-state --force \
    --lib-dir="$WORK/cilium/lib" --state-dir="$CILIUM_RUN" --bpf-root=/sys/fs/bpf --cgroup-root=/sys/fs/cgroup/unified >/dev/null 2>&1
  rm -rf "$CILIUM_RUN"
  local l
  for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^(cilium_|lxc)'); do ip link del "$l" 2>/dev/null; done
  rm -rf /sys/fs/bpf/tc/globals/cilium_* /sys/fs/bpf/cilium 2>/dev/null
  [[ -f $R/bpffs-mounted ]] && umount /sys/fs/bpf 2>/dev/null
  [[ -f $R/cilium-sysctls.orig ]] && restore_sysctls "$R/cilium-sysctls.orig"
}

# cilium_leftovers: appends to the caller's out array.
cilium_leftovers() {
  [[ -e $CILIUM_RUN ]] && out+=("Cilium state $CILIUM_RUN")
  ip -o link show 2>/dev/null | grep -qE ': (cilium_|lxc)' && out+=("Cilium links: $(ip -o link show | grep -cE ': (cilium_|lxc)')")
  ipset list -n 2>/dev/null | grep -qE '^cilium_' && out+=("Cilium ipsets")
  compgen -G "/sys/fs/bpf/tc/globals/cilium_*" >/dev/null && out+=("pinned Cilium BPF maps")
  pgrep -x cilium-agent >/dev/null && out+=("cilium-agent process")
  return 0
}
