"""Tenants' own provider keys (bring your own key), encrypted at rest, and the one choice of
whose credentials a provider call uses: ``credentials_for``."""
