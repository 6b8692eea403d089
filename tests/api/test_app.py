import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_the_api_never_imports_torch_or_transformers():
    code = (
        "import sys, api.app, api.routes.jobs, api.routes.moderations, api.routes.health\n"
        "import api.routes.reviews\n"
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
        "/v1/files",
        "/v1/files/{file}",
        "/v1/files/{file}/content",
        "/v1/batches",
        "/v1/batches/{batch}",
        "/v1/batches/{batch}/cancel",
        "/v1/reviews",
        "/v1/reviews/stats",
        "/v1/reviews/{escalation_id}",
        "/v1/reviews/{escalation_id}/claim",
        "/v1/reviews/{escalation_id}/resolve",
        "/v1/reviews/{escalation_id}/release",
        "/healthz",
        "/metrics",
    }
