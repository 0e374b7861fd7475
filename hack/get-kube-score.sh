#!/usr/bin/env bash
# Prints the path of kube-score (a static checker of Kubernetes objects that nobody here wrote),
# building it from the Go module proxy into the tool cache on a cache miss (40 s on the 2-core
# machine with empty Go module and build caches, once). cmd/manager's
# TestKubeScoreFindsNothingUnreviewed scores the chart, the kustomize install and the objects the
# operator creates with it.
#
#   export RSCHED_KUBE_SCORE_BIN="$(hack/get-kube-score.sh)"
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_PREFIX=get-kube-score
# shellcheck source=hack/lib.sh
source "$HERE/lib.sh"

go_tool kube-score github.com/zegl/kube-score/cmd/kube-score "${KUBE_SCORE_VERSION:-v1.20.0}"
