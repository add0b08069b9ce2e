"""Property-based fuzzing of every operation in the OpenAPI schema (schemathesis), against the real
app in-process (its lifespan started once): no 5xx, and every response matches what the schema
declares for it — status code, content type and body schema. Both schema-valid (positive) and
schema-violating (negative) requests are generated; examples are derandomized, so a run is
repeatable, and bounded (``EXAMPLES`` per operation and mode)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks as st_checks
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from channels.app import create_app
from tests.security.conftest import OPEN311_KEY, security_settings, write_corpus

EXAMPLES = 20
CHECKS = [st_checks.not_a_server_error, openapi_checks.status_code_conformance,
          openapi_checks.content_type_conformance, openapi_checks.response_schema_conformance]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.schemas.BaseSchema]:
    from schemathesis.python import asgi

    root: Path = tmp_path_factory.mktemp("fuzz")
    app = create_app(security_settings(root / "data", write_corpus(root / "corpus")))
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    asgi.shutdown_lifespans()


def fuzz(operation: schemathesis.APIOperation, mode: GenerationMode) -> int:
    """Run ``EXAMPLES`` generated requests against ``operation``; the number sent (raises on a failure)."""
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        nonlocal sent
        sent += 1
        if mode is GenerationMode.POSITIVE and operation.path == "/open311/v2/requests.{fmt}" \
                and operation.method.upper() == "POST" and isinstance(case.body, dict):
            case.body["api_key"] = OPEN311_KEY  # get past the key check, so intake itself is fuzzed
        case.call_and_validate(checks=CHECKS)

    run()
    return sent


def test_every_operation_survives_fuzzing(api_schema: schemathesis.schemas.BaseSchema) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15  # chat, feedback, uploads, exports, Open311, Twilio, ops
    sent = 0
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                sent += fuzz(operation, mode)
            except Unsatisfiable:  # no parameters or body: nothing to make invalid
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure, then report them all
                failures.append(f"{operation.label} ({mode.value}): {exc}"[:3000])
    print(f"fuzzed {len(operations)} operations with {sent} requests")
    assert not failures, "\n\n".join(failures)
