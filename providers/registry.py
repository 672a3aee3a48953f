"""Construction of adapters by provider name."""

from __future__ import annotations

from providers.base import ProviderAdapter, ProviderConfig

ADAPTER_NAMES = ("openai", "together", "mistral", "fireworks", "vertex")


def get_adapter(name: str, config: ProviderConfig) -> ProviderAdapter:
    """The adapter for ``name``; SDKs are imported only when their adapter is asked for."""
    if name == "openai":
        from providers.adapters.openai_adapter import OpenAIAdapter

        return OpenAIAdapter(config)
    if name == "together":
        from providers.adapters.together_adapter import TogetherAdapter

        return TogetherAdapter(config)
    if name == "mistral":
        from providers.adapters.mistral_adapter import MistralAdapter

        return MistralAdapter(config)
    if name == "fireworks":
        from providers.adapters.fireworks_adapter import FireworksAdapter

        return FireworksAdapter(config)
    if name == "vertex":
        from providers.adapters.vertex_adapter import VertexAdapter

        return VertexAdapter(config)
    raise ValueError(f"unknown provider {name!r}; choose one of {', '.join(ADAPTER_NAMES)}")
