"""Money on the wire: one shape everywhere (API responses, webhook payloads, the dashboard's
JSON). An amount is a decimal string, never a float, so that a cent never drifts."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

USD = "USD"


class Money(BaseModel):
    amount: str = Field(description='decimal string, e.g. "12.50"', examples=["12.50"])
    currency: str = Field(default=USD, examples=[USD])


class JobCost(Money):
    basis: str | None = Field(
        default=None,
        description="how the amount was found, e.g. trained_tokens_x_price, provider_reported",
    )


def decimal_string(value: Decimal) -> str:
    """``Decimal("1E+1")`` is ``"10"``: plain notation, never an exponent."""
    return format(value, "f")


def money(value: Decimal | None, currency: str = USD) -> Money | None:
    return None if value is None else Money(amount=decimal_string(value), currency=currency)


def job_cost(value: Decimal | None, basis: str | None) -> JobCost | None:
    return None if value is None else JobCost(amount=decimal_string(value), basis=basis)
