#!/usr/bin/env bash
# `make lock` and `make lock-check`: the lock files of exact versions with hashes.
#
# requirements.lock holds what guardq runs on (the Dockerfile installs it);
# requirements-dev.lock adds the dev extras at the same versions (make demo / make test
# install it). Both come from pyproject.toml through `uv pip compile`, for every
# platform (--universal) on Python 3.11, torch left out (lock-overrides.txt says why).
# uv keeps the versions already in a lock file unless pyproject.toml rules them out, so
# `make lock` after a pyproject change moves only what must move; `rm requirements*.lock;
# make lock` takes the newest of everything.
#
# --check: compile into copies and fail, with the diff, when the committed locks are not
# what pyproject.toml gives (a dependency added, removed or re-ranged without `make
# lock`). It needs the package index, like `make lock`.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-${VENV:-.venv}/bin/uv}

compile() {  # compile DIR: write DIR/requirements.lock and DIR/requirements-dev.lock
    local options=(--universal --python-version 3.11 --generate-hashes --quiet
        --override lock-overrides.txt --custom-compile-command "make lock")
    (cd "$1" && "$UV" pip compile pyproject.toml "${options[@]}" -o requirements.lock \
        && "$UV" pip compile pyproject.toml --extra dev --constraint requirements.lock \
            "${options[@]}" -o requirements-dev.lock)
}

if [ "${1:-}" != "--check" ]; then
    compile .
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp pyproject.toml lock-overrides.txt requirements.lock requirements-dev.lock "$work/"
UV=$(realpath "$UV") compile "$work"
status=0
for lock in requirements.lock requirements-dev.lock; do
    diff -u "$lock" "$work/$lock" || status=1
done
if [ $status -ne 0 ]; then
    echo "the lock files do not match pyproject.toml: run make lock and commit them" >&2
fi
exit $status
