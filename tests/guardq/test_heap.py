import gc
import weakref

from guardq.heap import freeze_startup_heap


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_the_start_up_heap_is_frozen_and_what_comes_later_is_still_collected():
    start_up = [Node() for _ in range(1000)]
    try:
        frozen = freeze_startup_heap()
        tracked = {id(o) for o in gc.get_objects()}

        assert frozen >= len(start_up)
        # A frozen object that another thread lets go of leaves the frozen set, so the
        # count may fall by a few between the two reads; it never grows by itself.
        assert len(start_up) <= gc.get_freeze_count() <= frozen
        # Frozen objects are in no generation a collection walks.
        assert not any(id(node) in tracked for node in start_up)

        later = Node()
        # A weak reference, not the id: another object may take a freed object's address.
        later_ref = weakref.ref(later)
        del later
        gc.collect()
        assert later_ref() is None
    finally:
        gc.unfreeze()
