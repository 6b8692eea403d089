import re

import pytest

pytestmark = pytest.mark.integration


def test_the_api_server_keeps_its_start_up_objects_out_of_garbage_collection(api_process, tmp_path):
    # A full collection over the API's heap stopped every request in flight for ~0.1 s;
    # `guardq api` freezes it once the app is built (guardq.heap).
    log = tmp_path / "api.log"
    api_process(log)
    found = re.search(r"\((\d+) start-up objects kept out of garbage collection\)", log.read_text())
    assert found is not None, log.read_text()[-2000:]
    assert int(found.group(1)) > 50_000
