#!/usr/bin/env bash
# `make test`: the system tools some tests need and pip cannot install, then ruff and pytest.
#
# Two tools come from the system's packages: Chromium, which the reviewer page's browser
# test drives (tests/e2e), and a compose binary, with which tests/test_deploy.py validates
# docker-compose.yml (`config` needs no Docker engine). When one is missing and this runs
# as root with apt-get, it installs them, in one apt-get call, and says so. A failed
# attempt is not repeated on every run (remove $VENV/.guardq-apt-attempted to retry).
# Otherwise the tests that need them are skipped, and the last lines printed name them and
# the command that would enable them.
#
# Variables: GUARDQ_CHROMIUM (default /usr/bin/chromium), GUARDQ_COMPOSE (a compose
# command; default docker-compose, else `docker compose`), GUARDQ_APT_GET (default
# apt-get), VENV (default .venv). `scripts/test.sh --tools-only` stops after the tools.
set -uo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
CHROMIUM=${GUARDQ_CHROMIUM:-/usr/bin/chromium}
APT_GET=${GUARDQ_APT_GET:-apt-get}
ATTEMPTED="$VENV/.guardq-apt-attempted"

have_chromium() { [ -x "$CHROMIUM" ]; }

compose_command() {
    if [ -n "${GUARDQ_COMPOSE:-}" ]; then
        # shellcheck disable=SC2086  # a command with its arguments, e.g. "docker compose"
        command -v ${GUARDQ_COMPOSE%% *} >/dev/null 2>&1 && echo "$GUARDQ_COMPOSE"
    elif command -v docker-compose >/dev/null 2>&1; then
        echo docker-compose
    elif command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
        echo "docker compose"
    fi
}

missing_packages() {
    local packages=()
    have_chromium || packages+=(chromium)
    [ -n "$(compose_command)" ] || packages+=(docker-compose)
    echo "${packages[*]}"
}

can_install() { [ "$(id -u)" = 0 ] && command -v "$APT_GET" >/dev/null 2>&1; }

missing=$(missing_packages)
if [ -n "$missing" ] && can_install; then
    if [ -e "$ATTEMPTED" ]; then
        echo "make test: not installing $missing: an earlier apt-get attempt failed" \
            "(rm $ATTEMPTED to retry)"
    else
        echo "make test: installing $missing with apt-get (needed by the browser and compose tests)"
        # shellcheck disable=SC2086  # one word per package
        if DEBIAN_FRONTEND=noninteractive "$APT_GET" update -qq \
            && DEBIAN_FRONTEND=noninteractive "$APT_GET" install -y -qq --no-install-recommends \
                $missing >/dev/null; then
            echo "make test: installed $missing"
        else
            mkdir -p "$VENV" && echo "$missing" >"$ATTEMPTED"
            echo "make test: apt-get could not install $missing; those tests will be skipped"
        fi
    fi
    missing=$(missing_packages)
fi

if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo "; fi
skipped=()
if have_chromium; then
    export GUARDQ_CHROMIUM="$CHROMIUM"
else
    export GUARDQ_SKIP_BROWSER=1
    skipped+=("the reviewer page's browser test (tests/e2e): no Chromium at $CHROMIUM; enable it with: ${sudo}apt-get install -y chromium")
fi
compose=$(compose_command)
if [ -n "$compose" ]; then
    export GUARDQ_COMPOSE="$compose"
else
    export GUARDQ_SKIP_COMPOSE=1
    skipped+=("the compose check (tests/test_deploy.py): no docker-compose or docker compose; enable it with: ${sudo}apt-get install -y docker-compose")
fi

report_skipped() {
    local line
    for line in "${skipped[@]}"; do echo "make test: skipped $line"; done
}

if [ "${1:-}" = "--tools-only" ]; then
    echo "GUARDQ_SKIP_BROWSER=${GUARDQ_SKIP_BROWSER:-0} GUARDQ_SKIP_COMPOSE=${GUARDQ_SKIP_COMPOSE:-0}"
    report_skipped
    exit 0
fi

"$VENV/bin/ruff" check . || exit $?
"$VENV/bin/python" -m pytest "$@"
status=$?
report_skipped
exit $status
