"""``multi``'s ``calculate_output``: arithmetic over sub-grader scores with ``+ - * / ^`` and
``min max abs floor ceil exp sqrt log`` (OpenAI's list). Parsed with ``ast`` and evaluated by
walking an allow-list of nodes: no ``eval``, no attribute access, no other names."""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping

_FUNCTIONS: dict[str, Callable[..., float]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "floor": math.floor,
    "ceil": math.ceil,
    "exp": math.exp,
    "sqrt": math.sqrt,
    "log": math.log,
}
_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
MAX_FORMULA_NODES = 256


class FormulaError(ValueError):
    pass


def parse(formula: str, names: set[str]) -> ast.expr:
    """The formula's tree; raises ``FormulaError`` naming what is not allowed."""
    try:
        # the formula's ^ is a power, binding tighter than * (Python's ^ would bind looser)
        tree = ast.parse(formula.replace("^", "**"), mode="eval").body
    except SyntaxError as exc:
        raise FormulaError(f"calculate_output is not a formula: {exc.msg}") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_FORMULA_NODES:
        raise FormulaError(f"calculate_output has more than {MAX_FORMULA_NODES} terms")
    for node in nodes:
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
                raise FormulaError(
                    f"calculate_output may call only {', '.join(sorted(_FUNCTIONS))}"
                )
            if node.keywords or not node.args:
                raise FormulaError("calculate_output functions take positional arguments")
        elif isinstance(node, ast.Name):
            if node.id not in names and node.id not in _FUNCTIONS:
                raise FormulaError(
                    f"calculate_output names '{node.id}', which is not one of the graders "
                    f"({', '.join(sorted(names))})"
                )
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise FormulaError("calculate_output constants must be numbers")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise FormulaError("calculate_output allows only + - * / ^ between terms")
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.USub | ast.UAdd):
                raise FormulaError("calculate_output allows only unary + and -")
        elif not isinstance(node, ast.Load | ast.operator | ast.unaryop):
            raise FormulaError(f"calculate_output may not contain {type(node).__name__}")
    return tree


def evaluate(tree: ast.expr, scores: Mapping[str, float]) -> float:
    """The value; arithmetic failures (division by zero, log of 0) raise ``FormulaError``."""
    try:
        value = _walk(tree, scores)
    except (ArithmeticError, ValueError) as exc:
        raise FormulaError(f"calculate_output failed: {exc}") from None
    if not math.isfinite(value):
        raise FormulaError("calculate_output is not a finite number")
    return value


def _walk(node: ast.expr, scores: Mapping[str, float]) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name):
        return scores[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _walk(node.operand, scores)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        return float(_BINARY[type(node.op)](_walk(node.left, scores), _walk(node.right, scores)))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return float(_FUNCTIONS[node.func.id](*(_walk(arg, scores) for arg in node.args)))
    raise FormulaError(f"calculate_output may not contain {type(node).__name__}")
