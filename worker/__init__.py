"""The worker: the inference engine (torch + transformers) and the Celery tasks over it.

The engine's front door is ``worker.engine.GuardEngine`` (see ``worker/ENGINE.md``);
``worker.celery_app`` configures Celery, ``worker.tasks`` holds the thin tasks over
``worker.pipeline``, and ``worker.callbacks`` sends job callbacks.
"""
