#!/usr/bin/env bash
# Prints the path of promtool, the outside judge of the alerting rules (`make test-alerts`, part
# of `make test`, runs `promtool check rules` and `promtool test rules` on them), installing
# Debian's prometheus package, which ships /usr/bin/promtool, when it is missing and we run as
# root. Its service is not started in a container without an init system.
#
#   export RSCHED_PROMTOOL_BIN="$(hack/get-promtool.sh)"
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_PREFIX=promtool
# shellcheck source=hack/lib.sh
source "$HERE/lib.sh"

debian_tool promtool prometheus "${RSCHED_PROMTOOL_BIN:-}"
