"""Fine-tuning providers behind one interface.

- ``providers.base``: ``ProviderAdapter`` (the interface), ``ProviderConfig``, ``JobSpec``,
  ``ProviderJob``, ``ProviderEvent``, ``ProviderCheckpoint``, ``JobStatus``, ``Capabilities``.
- ``providers.errors``: ``ProviderRetryableError``, ``ProviderPermanentError``,
  ``ProviderRetiredError`` — the only exceptions that leave this package.
- ``providers.registry.get_adapter(name, config)``: an adapter on the provider's official SDK.
- ``providers.catalog``: models, methods, training types, prices, lifecycle; ``resolve_provider``.
- Loopback emulators of each provider's HTTP API live in the top-level ``emulators`` package.

This package imports nothing else of ours.
"""
