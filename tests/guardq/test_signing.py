"""The webhook signature (Stripe's and GitHub's scheme), and the README's snippet that
receivers copy, checked against it."""

from __future__ import annotations

import re
import time

import pytest

from guardq.settings import REPO_ROOT
from guardq.signing import signature, signature_header, verify

SECRET = "whsec-0123456789abcdef"
BODY = b'{"type":"item.blocked","id":"evt_1"}'


def test_a_signed_body_verifies_with_its_secret_only():
    header = signature_header(SECRET, BODY)
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert verify(SECRET, BODY, header)
    assert not verify("another-secret-0123", BODY, header)
    assert not verify(SECRET, BODY + b" ", header)


def test_the_signature_covers_the_timestamp_and_refuses_stale_ones():
    now = int(time.time())
    header = signature_header(SECRET, BODY, now - 600)
    assert not verify(SECRET, BODY, header)
    assert verify(SECRET, BODY, header, tolerance_s=900)
    moved = header.replace(f"t={now - 600}", f"t={now}")
    assert not verify(SECRET, BODY, moved)


@pytest.mark.parametrize("header", ["", "v1=abc", "t=x,v1=abc", "t=1,v2=abc"])
def test_a_malformed_header_does_not_verify(header):
    assert not verify(SECRET, BODY, header)


def test_any_of_several_v1_signatures_may_match():
    now = int(time.time())
    header = f"t={now},v1={'0' * 64},v1={signature(SECRET, BODY, now)}"
    assert verify(SECRET, BODY, header)


def _readme_snippet() -> dict:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    (snippet,) = [block for block in blocks if "def verify_guardq" in block]
    scope: dict = {}
    exec(snippet, scope)  # the receiver's code, as the README prints it
    return scope


def test_the_readme_verification_snippet_accepts_guardq_signatures_only():
    verify_guardq = _readme_snippet()["verify_guardq"]
    header = signature_header(SECRET, BODY)
    assert verify_guardq(SECRET, BODY, header) is True
    assert verify_guardq(SECRET, BODY.replace(b"evt_1", b"evt_2"), header) is False
    assert verify_guardq(SECRET, BODY, signature_header(SECRET, BODY, 1_000_000_000)) is False
