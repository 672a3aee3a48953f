"""An item whose texts hold a NUL character is stored (PostgreSQL's JSONB and text refuse
U+0000: a random-init local model's output held one, and the run failed after five attempts
to store it); the NUL reads back as U+FFFD. Storing says whether the row went in (on
PostgreSQL it said "stored already" for every item)."""

from __future__ import annotations

from service.db.session import session_scope
from service.evals.graders.grade import GraderResult
from service.evals.runs.items import ItemOutcome, ItemStatus, ModelUsage
from service.evals.runs.repository import RunRepository
from service.evals.runs.stored import output_item
from tests.service.evals.runs.conftest import BASE_MODEL, CONFIG, CRITERIA, RunWorld, completions


def test_an_output_with_a_nul_character_is_stored(world: RunWorld) -> None:
    eval_id = world.sdk.evals.create(data_source_config=CONFIG, testing_criteria=CRITERIA).id
    run_id = world.sdk.evals.runs.create(eval_id, data_source=completions(BASE_MODEL, 1)).id
    outcome = ItemOutcome(
        index=0,
        item={"question": "q\x00", "answer": "a"},
        status=ItemStatus.ERROR,
        results=[GraderResult(name="exact\x00", type="string_check", score=0.0, passed=False)],
        sample={"output": [{"role": "assistant", "content": "a\x00b"}]},
        usage={"m": ModelUsage(1, 2, 3, 0)},
        error="bad \x00 byte",
    )
    with session_scope(world.database.sessions) as session:
        assert RunRepository(session).add_item(
            output_item(world.tenant_id, eval_id, run_id, outcome)
        )
    with session_scope(world.database.sessions) as session:
        again = output_item(world.tenant_id, eval_id, run_id, outcome)
        assert not RunRepository(session).add_item(again)  # stored once
        (row,) = RunRepository(session).items_of(run_id)
        assert (row.sample or {})["output"] == [{"role": "assistant", "content": "a\ufffdb"}]
        assert row.datasource_item["question"] == "q\ufffd"
        assert row.results[0]["name"] == "exact\ufffd"
        assert row.error == "bad \ufffd byte"
