import re


def test_a_ready_worker_keeps_its_start_up_objects_out_of_garbage_collection(celery_worker):
    # A full collection over a worker's heap (torch, transformers, the model) stopped
    # every thread for ~0.3 s; the worker freezes it once the model is loaded.
    found = re.search(
        r"worker ready to moderate with .* \((\d+) start-up objects kept out of garbage "
        r"collection\)",
        celery_worker.log(),
    )
    assert found is not None
    assert int(found.group(1)) > 100_000
