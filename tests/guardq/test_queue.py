"""The Celery configuration producers and workers share (guardq.queue)."""

from guardq.queue import MODERATE_BULK, make_celery
from guardq.settings import Settings


def test_task_events_are_on_and_print_ids_and_counts_never_text():
    app = make_celery(Settings(broker_url="redis://127.0.0.1:6379/15"))
    assert app.conf.worker_send_task_events and app.conf.task_send_sent_event
    kwargs = {
        "job_id": "7d1c",
        "mode": "prompt",
        "model_id": "models/demo",
        "items": [{"id": "a", "text": "my secret text", "prompt": None}] * 3,
        "attempt": 1,
    }
    message = app.amqp.create_task_message(
        "task-1", MODERATE_BULK, (), kwargs, create_sent_event=True
    )
    printed = (
        "{'job_id': '7d1c', 'mode': 'prompt', 'model_id': 'models/demo', "
        "'items': <3 entries>, 'attempt': 1}"
    )
    assert message.headers["kwargsrepr"] == printed
    assert message.sent_event["kwargs"] == printed
    assert "secret" not in repr(message.headers) + repr(message.sent_event)
    assert message.body[1] == kwargs  # the message itself carries the texts, as before
    app.close()
