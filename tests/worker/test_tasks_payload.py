"""What travels through the broker: a task message rebuilds the items the store hashed."""

from __future__ import annotations

import json
import uuid

from guardq.store.jobs import NewItem, item_sha256
from guardq.submit import task_payload
from guardq.verdict import Mode
from worker.pipeline import work_items

ITEMS = {
    Mode.PROMPT: [NewItem(text="How do I bake bread?"), NewItem(text="Ünïcode ✓ text")],
    Mode.RESPONSE: [NewItem(text="Mix flour and water.", prompt="How do I bake bread?")],
}


def test_task_message_rebuilds_items_whose_hashes_match_the_store():
    for mode, items in ITEMS.items():
        ids = [uuid.uuid4() for _ in items]
        payload = task_payload(
            job_id=uuid.uuid4(), mode=mode, model_id="m", item_ids=ids, items=items
        )
        rebuilt = work_items(json.loads(json.dumps(payload)))  # as the broker carries it
        assert [w.item_id for w in rebuilt] == ids
        assert [w.content_sha256 for w in rebuilt] == [item_sha256(mode, i) for i in items]
        assert [w.engine_input().content for w in rebuilt] == [i.text for i in items]
