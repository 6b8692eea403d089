# One image for every guardq service (api, worker, migrate, flower); compose picks the
# command. torch comes from PyPI, whose Linux x86_64 wheels are CUDA builds: the worker
# image runs on the GPU as is, and falls back to the CPU where none is reserved.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/models/hf

WORKDIR /app

# torch first and alone: the largest layer, cached across code changes.
RUN pip install torch==2.13.0

# Then the exact versions guardq runs on, each checked against its hash (make lock).
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock

COPY pyproject.toml README.md alembic.ini ./
COPY guardq ./guardq
COPY worker ./worker
COPY api ./api
COPY migrations ./migrations
COPY models ./models
RUN pip install --no-deps -e . \
    && useradd --create-home --uid 10001 guardq \
    && mkdir -p /models && chown guardq /models

USER guardq
EXPOSE 8000 5555
CMD ["guardq", "api", "--host", "0.0.0.0", "--port", "8000"]
