"""The Celery app Flower watches (``guardq flower``): guardq's configuration on the
configured broker, without the task code (no torch in the Flower process)."""

from guardq.queue import get_celery

app = get_celery()
