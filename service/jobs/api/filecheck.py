"""A job's files, checked for its provider before anything is queued: the file must be the
tenant's, validated, and valid under that provider's rules (a 400 names the first bad line).

A file validated at upload for another provider is checked again under this one's rules. Up to
``REVALIDATE_MAX_BYTES`` the full report is computed (token counting runs at a few MB/s); above
it, the request checks every line against the provider's rules without counting tokens (the
streaming validator, in parallel chunks: about 100 MB/s, so even a 1 GiB file answers in
seconds), and the upload-time token counts stand in for the estimate. What only token counts
reveal (an example over this model's context) is then left to the provider's own check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from service.billing.revalidation import report_for
from service.datasets.rules import format_mismatch
from service.datasets.validate import ValidationOptions, validate_file
from service.errors import InvalidRequest
from service.files.split import HELD_OUT_PURPOSE
from service.jobs.api.targets import Target
from service.jobs.repository import JobRepository
from service.settings import Settings


def checked_report(
    repository: JobRepository,
    settings: Settings,
    tenant_id: str,
    file_id: str,
    param: str,
    target: Target,
) -> dict[str, Any]:
    file = repository.file_for_tenant(tenant_id, file_id)
    if file is None:
        raise InvalidRequest(
            f"invalid {param}: {file_id} (no such file)", param=param, code="file_not_found"
        )
    if file.purpose == HELD_OUT_PURPOSE:
        raise InvalidRequest(
            f"{param} {file_id} is an evals file (rows for eval runs, or the held-out test "
            "part of a split): it is for evals only and is never sent to a provider.",
            param=param,
            code="held_out_file",
        )
    stored = file.validation or {}
    if file.status == "uploaded" or stored.get("pending"):
        raise InvalidRequest(
            f"File {file_id} is still being validated; try again in a moment.",
            param=param,
            code="file_not_ready",
        )
    checked = report_for(file, target.info, settings)
    report = checked.report
    if not checked.specific and report.get("valid"):
        rules = _rules_only_report(Path(file.storage_path), target, settings)
        report = report if rules.get("valid") else rules
    if not report.get("valid"):
        raise InvalidRequest(
            f"{param} {file_id} is not valid for {target.provider} "
            f"({target.provider_model}): {_first_problem(report)}",
            param=param,
            code="invalid_file",
            extra={"line": _first_line(report)},
        )
    return report


def check_file_format(target: Target, method: str, param: str, report: dict[str, Any]) -> None:
    """A file whose lines the job's method or model cannot train on is refused here, not sent
    (``format_mismatch`` says which; a quote reports the same as a problem)."""
    why = format_mismatch(report.get("format"), method, target.provider, target.provider_model)
    if why is not None:
        raise InvalidRequest(f"{param} {why}", param=param, code="invalid_file")


def _rules_only_report(path: Path, target: Target, settings: Settings) -> dict[str, Any]:
    options = ValidationOptions(
        max_line_bytes=settings.max_line_bytes, count_tokens=False, methods=target.info.methods
    )
    report = validate_file(
        path, provider=target.provider, model=target.info.model, options=options
    ).to_dict()
    return report


def _first_line(report: dict[str, Any]) -> int | None:
    errors = report.get("errors") or []
    line = errors[0].get("line") if errors else None
    return line if isinstance(line, int) else None


def _first_problem(report: dict[str, Any]) -> str:
    errors = report.get("errors") or []
    if not errors:
        return "the file could not be read."
    first = errors[0]
    where = f"line {first['line']}: " if first.get("line") else ""
    count = int(report.get("error_count") or len(errors))
    more = f" ({count - 1} more problem(s))" if count > 1 else ""
    return f"{where}{first.get('message', first.get('code', 'invalid'))}{more}"


def validation_summary(
    training: dict[str, Any], validation: dict[str, Any] | None
) -> dict[str, Any]:
    def brief(report: dict[str, Any]) -> dict[str, Any]:
        tokens = report.get("tokens") or {}
        return {
            "valid": bool(report.get("valid")),
            "provider": report.get("provider"),
            "format": report.get("format"),
            "examples": report.get("examples"),
            "tokens": tokens.get("total"),
            "billed_tokens": report.get("billed_tokens"),
            "warning_count": report.get("warning_count", 0),
        }

    summary = {"training_file": brief(training)}
    if validation is not None:
        summary["validation_file"] = brief(validation)
    return summary
