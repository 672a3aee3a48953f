"""Money: cost estimates, the cost ledger, budgets, usage and quotes.

The job lifecycle calls ``estimate_job_cost`` and ``ensure_within_budget`` at create and
``book_final_cost`` when a job reaches a terminal status."""

from service.billing.budget import BudgetExceeded, ensure_within_budget
from service.billing.estimate import CostEstimate, estimate_job_cost
from service.billing.ledger import book_final_cost

__all__ = [
    "BudgetExceeded",
    "CostEstimate",
    "book_final_cost",
    "ensure_within_budget",
    "estimate_job_cost",
]
