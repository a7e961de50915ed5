"""The check a version passes before it takes traffic: its card's example request and every case of its
golden.json (models/golden.py), run through the version's own operations and batcher, must give finite
answers, and the golden cases the answers they expect. Never a comparison with the version it replaces."""

import time
from typing import Any

from pydantic import ValidationError

from models.artifact import ArtifactError
from models.golden import GOLDEN_FILE, GoldenCase, GoldenError, differences, non_finite, read_golden
from service.errors import ServiceError
from service.runtime.contract import ServedTask
from service.runtime.model import RequestContext
from service.runtime.versions import LoadedVersion

# Every case must be answered within this; a check that hangs never blocks a reload for long.
CASE_TIMEOUT_S = 30.0


async def check_version(version: LoadedVersion, served: ServedTask) -> None:
    """Run the checks; raises ArtifactError with the first fault."""
    name = version.card.name
    try:
        golden = read_golden(version.path)
    except GoldenError as error:
        raise ArtifactError(name, str(error)) from error
    # The example request only has to be answered with finite numbers: it expects nothing.
    example = GoldenCase(
        operation=next(iter(served.checks)), request=version.runner.example_request(), expected={}
    )
    cases = [("the example request", example)]
    cases += [
        (f"{GOLDEN_FILE} case {index}", case) for index, case in enumerate(golden.cases if golden else [])
    ]
    for label, case in cases:
        answer = await _answer(version, served, label, case.operation, case.request)
        faults = non_finite(answer) + differences(case.expected, answer, case.tolerance)
        if faults:
            shown = "; ".join(faults[:3]) + (f"; and {len(faults) - 3} more" if len(faults) > 3 else "")
            raise ArtifactError(name, f"{label} ({case.operation}) failed the check: {shown}")


async def _answer(
    version: LoadedVersion, served: ServedTask, label: str, operation: str, body: dict[str, Any]
) -> dict[str, Any]:
    name = version.card.name
    checked = served.checks.get(operation)
    if checked is None:
        raise ArtifactError(
            name,
            f"{label}: operation {operation!r} is not one of a {version.card.task} model's: "
            f"{list(served.checks)}",
        )
    try:
        request = checked.request.model_validate({**body, "model": name})
    except ValidationError as error:
        raise ArtifactError(
            name, f"{label}: the request is not a valid {operation} request: {error}"
        ) from error
    # Admitted: the check is never refused for the queue's bound (RNNSERVE_QUEUE_SIZE may be below its items).
    context = RequestContext(time.monotonic() + CASE_TIMEOUT_S, {}, admitted=True)
    try:
        response = await version.ready[checked.operation].run(request, context)
    except ServiceError as error:
        raise ArtifactError(name, f"{label} ({operation}) was refused: {error.message}") from error
    dumped: dict[str, Any] = response.model_dump(mode="python")
    return dumped
