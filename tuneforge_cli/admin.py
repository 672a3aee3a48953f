"""``tuneforge tenants …`` and ``tuneforge keys …``: bootstrap tenants and API keys."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import typer
from rich.console import Console
from rich.table import Table

from service.auth.roles import KeyRole
from service.db.database import get_database
from service.db.session import session_scope
from service.errors import TuneforgeError
from service.tenants.repository import TenantRepository
from service.tenants.service import (
    create_api_key,
    create_tenant,
    get_tenant_by_name,
    revoke_api_key,
    set_monthly_budget,
    set_operator_fallback,
)

tenants_app = typer.Typer(help="Manage tenants.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys (a key is printed once, at creation).")
keys_app.info.no_args_is_help = True
err = Console(stderr=True)


def _fail(exc: TuneforgeError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc.message}")
    return typer.Exit(code=1)


@tenants_app.command("create")
def tenants_create(name: str = typer.Argument(..., help="Unique tenant name.")) -> None:
    """Create a tenant."""
    try:
        with session_scope(get_database().sessions) as session:
            tenant = create_tenant(session, name)
            typer.echo(f"created tenant {tenant.name} ({tenant.id})")
    except TuneforgeError as exc:
        raise _fail(exc) from exc


@tenants_app.command("list")
def tenants_list() -> None:
    """List tenants."""
    with session_scope(get_database().sessions) as session:
        table = Table("id", "name", "created")
        for tenant in TenantRepository(session).all():
            table.add_row(tenant.id, tenant.name, tenant.created_at.isoformat(timespec="seconds"))
    Console().print(table)


@tenants_app.command("budget")
def tenants_budget(
    name: str = typer.Argument(..., help="Tenant name."),
    monthly_usd: str = typer.Argument(..., help="Monthly budget in USD, e.g. 250.00"),
) -> None:
    """Set a tenant's monthly spending budget."""
    try:
        amount = Decimal(monthly_usd)
    except InvalidOperation:
        err.print(f"[red]error:[/red] not an amount: {monthly_usd!r}")
        raise typer.Exit(code=2) from None
    try:
        with session_scope(get_database().sessions) as session:
            set_monthly_budget(session, get_tenant_by_name(session, name), amount)
    except TuneforgeError as exc:
        raise _fail(exc) from exc
    typer.echo(f"budget for {name}: {amount} USD per month")


@tenants_app.command("fallback")
def tenants_fallback(
    name: str = typer.Argument(..., help="Tenant name."),
    allowed: bool = typer.Option(
        ..., "--on/--off", help="May the tenant's jobs use the operator's provider keys?"
    ),
) -> None:
    """Whether a tenant without its own key for a provider may use the operator's."""
    try:
        with session_scope(get_database().sessions) as session:
            set_operator_fallback(session, get_tenant_by_name(session, name), allowed)
    except TuneforgeError as exc:
        raise _fail(exc) from exc
    typer.echo(f"operator credentials fallback for {name}: {'on' if allowed else 'off'}")


@keys_app.command("create")
def keys_create(
    tenant: str = typer.Option(..., "--tenant", help="Tenant name."),
    admin: bool = typer.Option(
        False, "--admin", help="Tenant admin: also manages the tenant's provider credentials."
    ),
    operator: bool = typer.Option(
        False,
        "--operator",
        help="Operator: global across tenants (dashboard, budgets, usage of every tenant).",
    ),
    name: str = typer.Option("", "--name", help="A label for the key."),
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    if admin and operator:
        err.print("[red]error:[/red] choose one of --admin and --operator")
        raise typer.Exit(code=2)
    role = KeyRole.OPERATOR if operator else KeyRole.ADMIN if admin else KeyRole.MEMBER
    try:
        with session_scope(get_database().sessions) as session:
            created = create_api_key(
                session, get_tenant_by_name(session, tenant), role=role, name=name
            )
    except TuneforgeError as exc:
        raise _fail(exc) from exc
    typer.echo(
        f"API key {created.key.id} ({role.value}) for tenant {tenant}; "
        "store it now, it is not shown again:",
        err=True,
    )
    typer.echo(created.plaintext)


@keys_app.command("list")
def keys_list(tenant: str = typer.Option(..., "--tenant", help="Tenant name.")) -> None:
    """List a tenant's keys (ids and prefixes only)."""
    try:
        with session_scope(get_database().sessions) as session:
            owner = get_tenant_by_name(session, tenant)
            table = Table("id", "prefix", "role", "created", "last used", "revoked")
            for key in TenantRepository(session).keys_of(owner.id):
                table.add_row(
                    key.id,
                    key.prefix + "…",
                    key.role,
                    key.created_at.isoformat(timespec="seconds"),
                    key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "",
                    key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "",
                )
    except TuneforgeError as exc:
        raise _fail(exc) from exc
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="The key's id (key_…).")) -> None:
    """Revoke an API key."""
    try:
        with session_scope(get_database().sessions) as session:
            revoke_api_key(session, key_id)
    except TuneforgeError as exc:
        raise _fail(exc) from exc
    typer.echo(f"revoked {key_id}")
