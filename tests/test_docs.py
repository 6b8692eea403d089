"""The project's documents link only to files inside the repository, and those exist:
someone who clones guardq has nothing else."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
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
