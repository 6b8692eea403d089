"""guardq's HTTP API: producer endpoints, the OpenAI-compatible /v1/moderations, health
and metrics. It never imports torch or transformers: work goes to the workers as Celery
tasks sent by name (``guardq.submit``)."""
