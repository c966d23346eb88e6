"""Property-based run of the whole OpenAPI document against a real gateway (issue #13): every
operation under ``/v1`` gets generated requests, valid and invalid; no answer may be a 5xx, and
every status, content type and body must be the one the document declares. Offline: the schema
and the server are on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from support import Account, GatewayProcess

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the test extra")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 3  # per operation and mode: ~100 operations × 2 modes keeps the run under a minute


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, Account]]:
    data_dir: Path = tmp_path_factory.mktemp("schemathesis")
    with GatewayProcess(data_dir, extra_env={"KLING_GATEWAY_WORKERS": "0"}) as gw:
        yield gw, gw.create_account()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_every_operation_answers_as_documented(served: tuple[GatewayProcess, Account], mode: Any) -> None:
    gw, account = served
    schema = schemathesis.openapi.from_url(gw.base_url + "/openapi.json").include(path_regex=r"^/v1/")
    failures: list[str] = []
    statuses: dict[int, int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50  # the whole Kling route table, not an empty document

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
        )
        def run(case: Any) -> None:
            response = case.call_and_validate(
                base_url=gw.base_url, headers=account.bearer, checks=CHECKS, timeout=30
            )
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:600]}")
    assert not failures, "\n\n".join(failures)
    assert sum(statuses.values()) >= len(operations), statuses  # every operation was really called
    if mode == GenerationMode.NEGATIVE:
        assert any(400 <= status < 500 for status in statuses), statuses  # invalid input was refused
