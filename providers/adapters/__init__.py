"""One adapter per provider, each on that provider's official SDK (see ``providers.base``)."""
