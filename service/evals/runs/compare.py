"""``GET /v1/evals/{id}/compare?runs=A,B`` (ours): run A against run B over the items both
graded (errored items left out on both sides), per criterion and overall (an item passes when
all its criteria do): the difference of mean scores A − B with a paired-bootstrap 95% interval,
McNemar's exact p-value on the pass/fail pairs, and a verdict for A — ``better``, ``worse`` or
``indistinguishable`` (``service.evals.statistics``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel
from sqlalchemy.orm import Session

from service.db.models import EvalRun, EvalRunOutputItem
from service.errors import InvalidRequest, NotFound
from service.evals.runs.repository import RunRepository
from service.evals.runs.service import get_run
from service.evals.service import get_eval
from service.evals.statistics import CONFIDENCE, Verdict, compare_paired

MAX_RUNS_PARAM = 200


class Difference(BaseModel):
    value: float
    ci_low: float
    ci_high: float
    n: int
    confidence: float = CONFIDENCE


class CriterionComparison(BaseModel):
    testing_criteria: str
    mean_a: float | None
    mean_b: float | None
    difference: Difference | None
    pass_rate_a: float | None
    pass_rate_b: float | None
    pass_rate_difference: float | None
    a_only_passed: int
    b_only_passed: int
    mcnemar_p: float | None
    verdict: Verdict


class Comparison(BaseModel):
    object: Literal["eval.comparison"] = "eval.comparison"
    eval_id: str
    run_a: str
    run_b: str
    paired_items: int
    """Items graded (not errored) in both runs: the unit of every statistic below."""
    criteria: list[CriterionComparison]
    overall: CriterionComparison
    """An item passes when all its criteria pass."""


def parse_runs(runs: str) -> tuple[str, str]:
    """The route's ``runs=A,B``: two different run ids."""
    parts = [p.strip() for p in runs.split(",")]
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        raise InvalidRequest(
            "runs must name two different runs of the eval: runs=<run A>,<run B>.", param="runs"
        )
    return parts[0], parts[1]


def _compare(
    name: str, scores: list[tuple[float, float]], passes: list[tuple[bool, bool]]
) -> CriterionComparison:
    n = len(scores)
    result = compare_paired(
        [a for a, _ in scores],
        [b for _, b in scores],
        [a for a, _ in passes],
        [b for _, b in passes],
    )
    if result is None:
        return CriterionComparison(
            testing_criteria=name,
            mean_a=None,
            mean_b=None,
            difference=None,
            pass_rate_a=None,
            pass_rate_b=None,
            pass_rate_difference=None,
            a_only_passed=0,
            b_only_passed=0,
            mcnemar_p=None,
            verdict=Verdict.INDISTINGUISHABLE,
        )
    estimate = result.difference
    return CriterionComparison(
        testing_criteria=name,
        mean_a=sum(a for a, _ in scores) / n,
        mean_b=sum(b for _, b in scores) / n,
        difference=Difference(
            value=estimate.value,
            ci_low=estimate.interval.low,
            ci_high=estimate.interval.high,
            n=estimate.n,
        ),
        pass_rate_a=sum(a for a, _ in passes) / n,
        pass_rate_b=sum(b for _, b in passes) / n,
        pass_rate_difference=result.pass_rate_difference,
        a_only_passed=result.a_only_passed,
        b_only_passed=result.b_only_passed,
        mcnemar_p=result.mcnemar_p,
        verdict=result.verdict,
    )


def _graded(items: list[EvalRunOutputItem]) -> dict[int, EvalRunOutputItem]:
    return {item.datasource_item_id: item for item in items if item.status != "error"}


def _named_run(session: Session, tenant_id: str, eval_id: str, run_id: str) -> EvalRun:
    try:
        return get_run(session, tenant_id, eval_id, run_id)
    except NotFound as exc:  # it names run_id, a path parameter /compare does not have
        raise NotFound(exc.message, param="runs") from None


def compare_runs(
    session: Session, tenant_id: str, eval_id: str, run_a_id: str, run_b_id: str
) -> Comparison:
    evaluation = get_eval(session, tenant_id, eval_id)
    run_a, run_b = (_named_run(session, tenant_id, eval_id, i) for i in (run_a_id, run_b_id))
    repository = RunRepository(session)
    items_a, items_b = (
        _graded(repository.items_of(run_a.id)),
        _graded(repository.items_of(run_b.id)),
    )
    shared = sorted(set(items_a) & set(items_b))
    criteria = []
    for position, criterion in enumerate(evaluation.testing_criteria):
        scores, passes = [], []
        for index in shared:
            ra, rb = items_a[index].results, items_b[index].results
            if len(ra) > position and len(rb) > position:
                scores.append((float(ra[position]["score"]), float(rb[position]["score"])))
                passes.append((bool(ra[position]["passed"]), bool(rb[position]["passed"])))
        criteria.append(_compare(str(criterion["id"]), scores, passes))
    overall_passes = [(items_a[i].status == "pass", items_b[i].status == "pass") for i in shared]
    overall = _compare("all", [(float(a), float(b)) for a, b in overall_passes], overall_passes)
    return Comparison(
        eval_id=evaluation.id,
        run_a=run_a.id,
        run_b=run_b.id,
        paired_items=len(shared),
        criteria=criteria,
        overall=overall,
    )
