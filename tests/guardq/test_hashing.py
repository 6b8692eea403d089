import hashlib

from guardq.hashing import content_sha256, pair_sha256


def test_hash_is_sha256_of_exact_utf8_bytes():
    text = "héllo 世界 🙂"
    assert content_sha256(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_no_normalisation_one_space_or_normal_form_differs():
    assert content_sha256("hello") != content_sha256("hello ")
    assert content_sha256("\u00e9") != content_sha256("e\u0301")


def test_pairs_with_moved_boundary_do_not_collide():
    assert pair_sha256("ab", "c") != pair_sha256("a", "bc")
    assert pair_sha256("a", "b") != content_sha256("ab")
    assert pair_sha256("a", "b") == pair_sha256("a", "b")
