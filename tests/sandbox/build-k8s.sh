#!/usr/bin/env bash
# Build the Kubernetes server binaries from Debian's source package, once per machine.
# The result is cached under $CACHE_DIR/k8s-<version>/bin and reused by every `up`.
set -euo pipefail
. "$(dirname "$0")/common.sh"

# Bump when the way the binaries are built changes: cached binaries with another stamp are rebuilt.
BUILD_STAMP="k8s-$K8S_VERSION go-vendor-patches:reflect2-mapiterinit-v1"

wanted=(kube-apiserver kube-controller-manager kube-scheduler kubelet pause)
have_all=1
for b in "${wanted[@]}"; do [ -x "$K8S_BIN_DIR/$b" ] || have_all=0; done
[ "$(cat "$K8S_BIN_DIR/.build-stamp" 2>/dev/null)" = "$BUILD_STAMP" ] || have_all=0
if [ "$have_all" = 1 ]; then echo "kubernetes $K8S_VERSION binaries cached in $K8S_BIN_DIR" >&2; exit 0; fi

# Kubernetes 1.20 vendors github.com/modern-go/reflect2 v1.0.1, which declares the runtime's
# reflect.mapiterinit with its pre-Go-1.18 signature (returning the iterator). Debian 12 has Go
# 1.19 only, where the caller passes the iterator in: built as is, kube-apiserver segfaults
# (aeshashbody, "unexpected fault address") the first time json-iterator walks a map through
# reflect2, e.g. on the first create of a custom resource. Rewrite the declaration for Go 1.19
# and give the iterator the runtime's full layout (so the GC sees its pointers).
patch_reflect2() {
  local dir=vendor/github.com/modern-go/reflect2
  [ -f "$dir/kubectl_ops_go119_mapiter.go" ] && return 0
  # Drop the old declaration and the truncated iterator struct.
  perl -0pi -e 's{// m escapes into the return value.*?func mapiterinit\(rtype unsafe.Pointer, m unsafe.Pointer\) \*hiter\n}{}s;
                s{// A hash iteration structure\..*?type hiter struct \{.*?\n\}\n}{}s' "$dir/unsafe_link.go"
  perl -pi -e 's#\Qmapiterinit(type2.rtype, *(*unsafe.Pointer)(obj))\E#newMapIter(type2.rtype, *(*unsafe.Pointer)(obj))#' \
    "$dir/unsafe_map.go"
  cat > "$dir/kubectl_ops_go119_mapiter.go" <<'GO'
// Added by kubectl-ops' tests/sandbox/build-k8s.sh: Go >= 1.18 signature of reflect.mapiterinit.

package reflect2

import "unsafe"

//go:noescape
//go:linkname mapiterinit reflect.mapiterinit
func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer, it *hiter)

func newMapIter(rtype unsafe.Pointer, m unsafe.Pointer) *hiter {
	it := new(hiter)
	mapiterinit(rtype, m, it)
	return it
}

// hiter has the layout of the Go 1.19 runtime's map iterator (runtime/map.go).
type hiter struct {
	key         unsafe.Pointer
	value       unsafe.Pointer
	t           unsafe.Pointer
	h           unsafe.Pointer
	buckets     unsafe.Pointer
	bptr        unsafe.Pointer
	overflow    unsafe.Pointer
	oldoverflow unsafe.Pointer
	startBucket uintptr
	offset      uint8
	wrapped     bool
	B           uint8
	i           uint8
	bucket      uintptr
	checkBucket uintptr
}
GO
  grep -q 'newMapIter(type2.rtype' "$dir/unsafe_map.go" \
    || die "patching reflect2 failed: unsafe_map.go is not as expected"
  if grep -q 'type hiter struct\|) \*hiter$' "$dir/unsafe_link.go"; then die "patching reflect2 failed: unsafe_link.go is not as expected"; fi
}

step "installing build dependencies (golang-go, jq, rsync, dpkg-dev)"
apt_install golang-go jq rsync dpkg-dev ca-certificates
done_step

build="$CACHE_DIR/k8s-build"
mkdir -p "$build" "$K8S_BIN_DIR"
cd "$build"
if ! ls kubernetes_*.orig.tar.gz >/dev/null 2>&1; then
  step "downloading the kubernetes source package"
  src_list=/etc/apt/sources.list.d/kubectl-ops-src.sources
  if [ ! -f "$src_list" ]; then
    cat > "$src_list" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -qq >&2
  fi
  apt-get source --download-only kubernetes >&2
  done_step
fi
tarball=$(ls kubernetes_*.orig.tar.gz | head -1)
if [ ! -d src/cmd ]; then
  step "unpacking $tarball"
  rm -rf src && mkdir src
  tar -xzf "$tarball" -C src --strip-components=1
  done_step
fi
cd src
mkdir -p .go/src/k8s.io
[ -e .go/src/k8s.io/kubernetes ] || ln -s ../../.. .go/src/k8s.io/kubernetes
patch_reflect2
step "compiling kube-apiserver, kube-controller-manager, kube-scheduler, kubelet (~12 min on 2 cores)"
env GOPATH="$PWD/.go" GOCACHE="$CACHE_DIR/go-build-cache" CGO_ENABLED=0 \
  make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet" >&2
done_step
out=_output/local/bin/linux/amd64
for b in kube-apiserver kube-controller-manager kube-scheduler kubelet; do
  install -m 0755 "$out/$b" "$K8S_BIN_DIR/$b.tmp" && mv "$K8S_BIN_DIR/$b.tmp" "$K8S_BIN_DIR/$b"
done
step "compiling the pause image binary"
gcc -O2 -static -DVERSION=local -o "$K8S_BIN_DIR/pause.tmp" build/pause/linux/pause.c
mv "$K8S_BIN_DIR/pause.tmp" "$K8S_BIN_DIR/pause"
done_step
echo "$BUILD_STAMP" > "$K8S_BIN_DIR/.build-stamp"
echo "kubernetes $K8S_VERSION binaries cached in $K8S_BIN_DIR" >&2
