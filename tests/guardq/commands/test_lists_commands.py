"""``guardq lists`` and ``guardq authors`` against a real Postgres store."""

import pytest

from guardq.cli import main
from guardq.settings import get_settings

pytestmark = pytest.mark.integration


def test_lists_create_add_show_remove_delete(migrated, capsys, tmp_path):
    terms = tmp_path / "terms.txt"
    terms.write_text("free money\n\nＣＨＥＡＰ pills\n", encoding="utf-8")
    assert main(["lists", "create", "cli-spam", "--kind", "block", "--file", str(terms)]) == 0
    assert "with 2 entries" in capsys.readouterr().out
    assert main(["lists", "add", "cli-spam", "--regex", r"v[i1]agra", "--phrase", "x y"]) == 0
    added = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[1:] for line in added] == [["phrase", "x y"], ["regex", "v[i1]agra"]]

    assert main(["lists", "show", "cli-spam"]) == 0
    shown = capsys.readouterr().out
    assert "block list 'cli-spam': deployment, skip_model=False, 4 entries" in shown
    assert "cheap pills" in shown

    regex_id = added[1].split("\t")[0]
    assert main(["lists", "remove", "cli-spam", "--id", regex_id, "--phrase", "FREE money"]) == 0
    assert "removed 2 entries" in capsys.readouterr().out
    assert main(["lists", "list"]) == 0
    assert "cli-spam" in capsys.readouterr().out
    assert main(["lists", "delete", "cli-spam"]) == 0
    assert main(["lists", "show", "cli-spam"]) == 2
    assert "no term list named 'cli-spam'" in capsys.readouterr().err


def test_lists_refuses_a_bad_regex_naming_it(migrated, capsys):
    assert main(["lists", "create", "cli-bad", "--kind", "block", "--regex", "(oops"]) == 2
    assert "regex '(oops': invalid regular expression" in capsys.readouterr().err


def test_authors_show_and_lift_need_the_policy_and_the_secret(migrated, capsys, monkeypatch):
    assert main(["authors", "show", "u1"]) == 2
    assert "policy.authors" in capsys.readouterr().err
    monkeypatch.setenv(
        "GUARDQ_POLICY", '{"authors": {"unsafe_strikes": 3, "window": "P1D", "hold": "PT24H"}}'
    )
    monkeypatch.setenv("GUARDQ_AUTHOR_SECRET", "a-secret-of-sixteen-chars")
    get_settings.cache_clear()
    assert main(["authors", "show", "u1"]) == 0
    assert "strikes in the window: 0; on hold: False" in capsys.readouterr().out
    assert main(["authors", "lift", "u1"]) == 1
    assert "not on hold" in capsys.readouterr().out
