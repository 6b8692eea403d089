"""The words a decision's reason starts with when a check before the model decided it.

``guardq.screening`` writes them; whatever sorts escalations by why they were opened
(the review deadlines) reads them back with ``screening_kind``, so the two never drift.
A reason is ``<what decided>; model: <the policy's reason on the verdict>``, so only its
start is looked at: a list's name or the model's reason cannot pass for it.
"""

from __future__ import annotations

from typing import Literal

# A block-list hit, or a block-list pattern that ran past its time bound:
# "block list 'spam' entry 12; model: severity Safe".
BLOCK_LIST = "block list "
# An item of an author on hold: "author on hold; model: severity Safe".
AUTHOR_HOLD = "author on hold"

ScreeningKind = Literal["block_list", "author_hold"]


def screening_kind(reason: str) -> ScreeningKind | None:
    """Which check before the model decided ``reason``'s item; None: the policy alone."""
    if reason.startswith(BLOCK_LIST):
        return "block_list"
    if reason.startswith(AUTHOR_HOLD):
        return "author_hold"
    return None
