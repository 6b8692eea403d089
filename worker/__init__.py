"""The worker: the inference engine (torch + transformers) and, later, the Celery tasks.

The engine's front door is ``worker.engine.GuardEngine``; see ``worker/ENGINE.md``.
"""
