"""``guardq worker``'s plan of processes: one celery worker per device, or ``--per-device``
of them, each with its own node name."""

import pytest

from guardq.commands.worker import worker_commands


def _nodes(plans) -> list[tuple[str | None, str]]:
    return [(device, argv[argv.index("-n") + 1]) for device, argv in plans]


def test_one_worker_per_device_keeps_the_device_in_its_node_name():
    plans = worker_commands(
        ["cpu", "cuda:1"], ["bulk", "realtime"], name="g", loglevel="INFO", callbacks=False
    )
    assert _nodes(plans) == [("cpu", "g-cpu@%h"), ("cuda:1", "g-cuda1@%h")]
    # Realtime is polled first whatever order the user wrote.
    assert all(argv[argv.index("-Q") + 1] == "realtime,bulk" for _, argv in plans)


def test_per_device_starts_that_many_numbered_workers_on_each_device():
    plans = worker_commands(
        ["cuda:0", "cuda:1"], ["realtime"], name="g", loglevel="INFO", callbacks=True, per_device=2
    )
    assert _nodes(plans) == [
        ("cuda:0", "g-cuda0-1@%h"),
        ("cuda:0", "g-cuda0-2@%h"),
        ("cuda:1", "g-cuda1-1@%h"),
        ("cuda:1", "g-cuda1-2@%h"),
        (None, "g-callbacks@%h"),
    ]
    assert all("solo" in argv for device, argv in plans if device is not None)


@pytest.mark.parametrize("per_device", [0, 17])
def test_per_device_out_of_range_is_refused_naming_the_flag_and_the_range(per_device):
    with pytest.raises(ValueError, match=f"--per-device: expected 1 to 16, got {per_device}"):
        worker_commands(
            ["cpu"], ["realtime"], name="g", loglevel="INFO", callbacks=False, per_device=per_device
        )
