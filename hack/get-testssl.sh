#!/usr/bin/env bash
# Prints the path of testssl.sh, the outside judge of the server's TLS (a test in
# internal/server/tlsserve runs it against the real handler served over TLS), installing Debian's
# testssl.sh package when it is missing and we run as root. Debian names the command `testssl`.
#
#   export RSCHED_TESTSSL_BIN="$(hack/get-testssl.sh)"
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_PREFIX=testssl
# shellcheck source=hack/lib.sh
source "$HERE/lib.sh"

debian_tool testssl testssl.sh "${RSCHED_TESTSSL_BIN:-}"
