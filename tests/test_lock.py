"""The lock files match pyproject.toml, checked without the network: every requirement
is pinned to a version it allows, with hashes; the dev lock holds the runtime lock's
versions; torch is left to the torch-first install. (`make lock-check` also re-resolves
against the index: .ci/run runs it.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)")


def pins(name: str) -> dict[str, str]:
    """``{package: version}`` of a lock file; fails on an entry without a hash."""
    found: dict[str, str] = {}
    entry = None
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        if match := PIN.match(line):
            entry = canonicalize_name(match.group(1))
            found[entry] = match.group(2)
            assert line.rstrip().endswith("\\"), f"{name}: {entry} has no hash"
        elif line.strip().startswith("--hash=sha256:"):
            entry = None
    return found


def requirements(*, dev: bool) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    listed = project["dependencies"] + (project["optional-dependencies"]["dev"] if dev else [])
    return [Requirement(line) for line in listed]


@pytest.mark.parametrize(
    ("lock", "dev"), [("requirements.lock", False), ("requirements-dev.lock", True)]
)
def test_every_requirement_is_pinned_to_a_version_it_allows(lock, dev):
    pinned = pins(lock)
    for requirement in requirements(dev=dev):
        name = canonicalize_name(requirement.name)
        if name == "torch":
            assert name not in pinned  # installed first, on its own (Makefile, Dockerfile)
            continue
        assert name in pinned, f"{lock} lacks {name}: run make lock"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock} pins {name}=={pinned[name]}, pyproject.toml asks {requirement.specifier}"
        )


def test_the_dev_lock_keeps_the_runtime_versions_and_no_gpu_stack():
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert runtime.items() <= dev.items()
    assert not [name for name in dev if name == "torch" or name.startswith("nvidia-")]


def test_installs_use_the_locks_with_hashes():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--require-hashes --no-deps -r requirements-dev.lock" in makefile
    assert makefile.index("torch==2.13.0") < makefile.index("-r requirements-dev.lock")
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "--require-hashes --no-deps -r requirements.lock" in dockerfile
    assert dockerfile.index("torch==2.13.0") < dockerfile.index("-r requirements.lock")
