"""The admin dashboard under ``/admin``: server-rendered pages, a few JSON reads they poll,
and the operator's actions, behind an admin API key exchanged for a session cookie."""

from service.dashboard.install import install_dashboard

__all__ = ["install_dashboard"]
