from __future__ import annotations

import pytest

from service.evals.graders.formula import FormulaError, evaluate, parse


def value(text: str, **scores: float) -> float:
    return evaluate(parse(text, set(scores)), scores)


def test_operators_functions_and_power_precedence() -> None:
    assert value("a + b * 2", a=1, b=3) == 7
    assert value("2 * a ^ 2", a=3) == 18  # ^ is a power and binds tighter than *
    assert value("min(a, b) + max(a, b) - abs(-1)", a=0.25, b=0.75) == 0
    assert value("floor(a) + ceil(a) + sqrt(4) + log(exp(1))", a=1.5) == 6


@pytest.mark.parametrize(
    "formula",
    [
        "__import__('os')",
        "a.real",
        "unknown + 1",
        "open(a)",
        "'x'",
        "a if a else 1",
        "[a]",
        "a < 1",
    ],
)
def test_anything_else_is_refused(formula: str) -> None:
    with pytest.raises(FormulaError):
        parse(formula, {"a"})


def test_arithmetic_failures_raise_formula_errors() -> None:
    with pytest.raises(FormulaError):
        value("a / b", a=1, b=0)
    with pytest.raises(FormulaError):
        value("log(a)", a=0)
    with pytest.raises(FormulaError):
        value("10 ^ 10 ^ 10", a=0)
