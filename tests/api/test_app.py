import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_the_api_never_imports_torch_or_transformers():
    code = (
        "import sys, api.app, api.routes.jobs, api.routes.moderations, api.routes.health\n"
        "import api.routes.reviews, api.routes.chat, api.routes.dify, api.routes.litellm\n"
        "import api.routes.lists, api.routes.authors, api.routes.review_check\n"
        "from api.usage import TokenCounter\n"
        "from guardq.settings import DEMO_MODEL\n"
        "assert TokenCounter.load(str(DEMO_MODEL)) and not TokenCounter.load('org/absent')\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_the_openapi_document_lists_every_endpoint(client):
    paths = set(client.get("/openapi.json").json()["paths"])
    assert paths == {
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/results",
        "/v1/moderations",
        "/v1/chat/completions",
        "/v1/models",
        "/v1/dify/moderation",
        "/beta/litellm_basic_guardrail_api",
        "/v1/files",
        "/v1/files/{file}",
        "/v1/files/{file}/content",
        "/v1/batches",
        "/v1/batches/{batch}",
        "/v1/batches/{batch}/cancel",
        "/v1/reviews",
        "/v1/reviews/stats",
        "/v1/reviews/bulk-resolve",
        "/v1/reviews/{escalation_id}",
        "/v1/reviews/{escalation_id}/claim",
        "/v1/reviews/{escalation_id}/resolve",
        "/v1/reviews/{escalation_id}/release",
        "/v1/lists",
        "/v1/lists/{name}",
        "/v1/lists/{name}/entries",
        "/v1/lists/{name}/entries/remove",
        "/v1/authors/{author}",
        "/v1/authors/{author}/lift",
        "/healthz",
        "/metrics",
    }
