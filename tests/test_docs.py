"""The project's documents link only to files inside the repository, and those exist:
someone who clones guardq has nothing else. The README has a row for every setting."""

import re
from pathlib import Path

import pytest

from guardq.settings import CliSettings, Settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
TEST_PATH = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_links_point_to_files_inside_the_repository(document):
    for target in LINK.findall(document.read_text(encoding="utf-8")):
        if target.startswith(("https://", "http://", "#")):
            continue
        resolved = (document.parent / target.split("#")[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"{document.name} links outside: {target}"
        assert resolved.exists(), f"{document.name} links to a missing file: {target}"


def test_the_architecture_names_tests_that_exist():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    named = TEST_PATH.findall(text)
    assert len(named) > 10
    for path, test in named:
        source = ROOT / path
        assert source.is_file(), path
        if test:
            assert f"def {test}(" in source.read_text(encoding="utf-8"), f"{path}::{test}"


def test_every_setting_has_a_row_in_a_readme_table():
    # A bad GUARDQ_* value's error sends the user to the README's tables.
    rows = re.findall(r"^\| (`GUARDQ_[^|]*) \|", README.read_text(encoding="utf-8"), re.M)
    documented = {name for row in rows for name in re.findall(r"`(GUARDQ_\w+)`", row)}
    fields = [*Settings.model_fields, *CliSettings.model_fields]
    assert len(fields) > 20
    missing = [f"GUARDQ_{n.upper()}" for n in fields if f"GUARDQ_{n.upper()}" not in documented]
    assert not missing, f"settings without a row in a README table: {missing}"
