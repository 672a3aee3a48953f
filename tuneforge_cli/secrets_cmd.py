"""``tuneforge secrets …``: the keys that encrypt secrets at rest."""

from __future__ import annotations

import typer
from cryptography.fernet import Fernet
from rich.console import Console

from service.db.database import get_database
from service.db.session import session_scope
from service.encryption.keyring import UndecryptableSecret, keyring_for
from service.encryption.rotate import rotate_secrets
from service.settings import get_settings

secrets_app = typer.Typer(help="Manage the encryption of secrets at rest.", no_args_is_help=True)
err = Console(stderr=True)


@secrets_app.command("generate-key")
def generate_key() -> None:
    """Print a new encryption key (put it first in TUNEFORGE_ENCRYPTION_KEYS)."""
    typer.echo(Fernet.generate_key().decode("ascii"))


@secrets_app.command("rotate")
def rotate() -> None:
    """Re-encrypt every stored secret with the first key of TUNEFORGE_ENCRYPTION_KEYS; the
    other keys can be removed afterwards."""
    settings = get_settings()
    try:
        with session_scope(get_database().sessions) as session:
            report = rotate_secrets(session, keyring_for(settings))
    except UndecryptableSecret as exc:
        err.print(f"[red]error:[/red] {exc}; nothing was changed")
        raise typer.Exit(code=1) from exc
    typer.echo(
        f"re-encrypted {report.provider_credentials} provider credential(s) and "
        f"{report.webhook_secrets} webhook secret row(s); "
        f"{report.already_current} secret(s) were already under the newest key"
    )
