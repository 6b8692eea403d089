"""scripts/test.sh, behind `make test`: it installs Chromium and a compose binary with
apt-get when they are missing and it runs as root, once; otherwise it skips the tests
that need them and names them, with the enabling command, in its last lines.

The tools are present on this machine, so each test points the script at paths that do
not exist (GUARDQ_CHROMIUM, GUARDQ_COMPOSE) and at a stand-in apt-get that records its
calls and creates the files a real install would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "test.sh"

FAKE_APT_GET = """#!/bin/sh
echo "$*" >> "{log}"
if [ "$1" = install ]; then
    for package in "$@"; do
        case "$package" in
            chromium) printf '#!/bin/sh\\n' > "{chromium}"; chmod +x "{chromium}" ;;
            docker-compose) printf '#!/bin/sh\\n' > "{compose}"; chmod +x "{compose}" ;;
        esac
    done
fi
"""


@pytest.fixture
def machine():
    """A world-readable directory (the non-root test runs as nobody) with a stand-in
    apt-get and the paths where the tools would go."""
    base = Path(tempfile.mkdtemp(prefix="guardq-make-test-"))
    base.chmod(0o755)
    tools = {
        "base": base,
        "log": base / "apt.log",
        "chromium": base / "chromium",
        "compose": base / "docker-compose",
        "apt_get": base / "apt-get",
        "venv": base / "venv",
    }
    tools["apt_get"].write_text(
        FAKE_APT_GET.format(log=tools["log"], chromium=tools["chromium"], compose=tools["compose"])
    )
    tools["apt_get"].chmod(0o755)
    yield tools
    shutil.rmtree(base)


def run_script(machine, *args, apt_get=None, user=None):
    env = {
        **os.environ,
        "GUARDQ_CHROMIUM": str(machine["chromium"]),
        "GUARDQ_COMPOSE": str(machine["compose"]),
        "GUARDQ_APT_GET": str(apt_get or machine["apt_get"]),
        "VENV": str(machine["venv"]),
    }
    command = [str(SCRIPT), *args]
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    return done.returncode, done.stdout.strip().splitlines()


def apt_calls(machine) -> list[str]:
    log = machine["log"]
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.skipif(os.geteuid() != 0, reason="the install path needs root")
def test_root_with_apt_installs_the_missing_tools_once_and_says_so(machine):
    status, lines = run_script(machine, "--tools-only")
    assert status == 0
    assert "make test: installing chromium docker-compose with apt-get" in lines[0]
    assert "make test: installed chromium docker-compose" in lines
    assert lines[-1] == "GUARDQ_SKIP_BROWSER=0 GUARDQ_SKIP_COMPOSE=0"
    assert apt_calls(machine) == [
        "update -qq",
        "install -y -qq --no-install-recommends chromium docker-compose",
    ]

    status, lines = run_script(machine, "--tools-only")
    assert status == 0
    assert lines == ["GUARDQ_SKIP_BROWSER=0 GUARDQ_SKIP_COMPOSE=0"]
    assert len(apt_calls(machine)) == 2  # nothing installed the second time


@pytest.mark.skipif(os.geteuid() != 0, reason="the install path needs root")
def test_only_the_missing_tool_is_installed(machine):
    machine["compose"].write_text("#!/bin/sh\n")
    machine["compose"].chmod(0o755)
    status, lines = run_script(machine, "--tools-only")
    assert status == 0
    assert apt_calls(machine)[-1] == "install -y -qq --no-install-recommends chromium"


@pytest.mark.skipif(os.geteuid() != 0, reason="the install path needs root")
def test_a_failed_install_is_not_retried_and_the_tests_are_skipped(machine):
    machine["apt_get"].write_text(f'#!/bin/sh\necho "$*" >> "{machine["log"]}"\nexit 100\n')
    status, lines = run_script(machine, "--tools-only")
    assert status == 0
    assert "apt-get could not install chromium docker-compose" in lines[1]
    assert lines[-2].startswith("make test: skipped the reviewer page's browser test")
    status, lines = run_script(machine, "--tools-only")
    assert "an earlier apt-get attempt failed" in lines[0]
    assert apt_calls(machine) == ["update -qq"]  # one attempt, not one per run


def test_without_apt_the_tests_are_skipped_and_named_last(machine):
    status, lines = run_script(machine, "--tools-only", apt_get=machine["base"] / "no-apt-get")
    assert status == 0
    assert apt_calls(machine) == []
    assert lines[0] == "GUARDQ_SKIP_BROWSER=1 GUARDQ_SKIP_COMPOSE=1"
    assert lines[1] == (
        "make test: skipped the reviewer page's browser test (tests/e2e): no Chromium at "
        f"{machine['chromium']}; enable it with: apt-get install -y chromium"
    )
    assert lines[2] == (
        "make test: skipped the compose check (tests/test_deploy.py): no docker-compose or "
        "docker compose; enable it with: apt-get install -y docker-compose"
    )


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="running as another user needs root and setpriv",
)
def test_not_root_never_calls_apt_and_names_the_sudo_command(machine):
    status, lines = run_script(machine, "--tools-only", user=65534)
    assert status == 0, lines
    assert apt_calls(machine) == []
    assert lines[0] == "GUARDQ_SKIP_BROWSER=1 GUARDQ_SKIP_COMPOSE=1"
    assert lines[1].endswith("enable it with: sudo apt-get install -y chromium")
    assert lines[2].endswith("enable it with: sudo apt-get install -y docker-compose")


def test_the_skipped_tests_are_the_last_lines_after_pytest(machine):
    # The whole script on one real test: ruff, pytest (the compose check is skipped, as
    # pytest reports), then the summary of what was skipped and how to enable it.
    venv = Path(sys.executable).parent.parent
    machine["venv"].symlink_to(venv)
    status, lines = run_script(
        machine,
        "tests/test_deploy.py",
        "-q",
        "-k",
        "compose_config",
        apt_get=machine["base"] / "no-apt-get",
    )
    assert status == 0, lines
    assert any("1 skipped" in line for line in lines)
    assert lines[-2].startswith("make test: skipped the reviewer page's browser test")
    assert lines[-1].startswith("make test: skipped the compose check")
