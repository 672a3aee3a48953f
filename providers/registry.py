"""Construction of adapters by provider name."""

from __future__ import annotations

from providers.base import ProviderAdapter, ProviderConfig

ADAPTER_NAMES = ("openai", "together", "mistral", "fireworks", "vertex")


def get_adapter(name: str, config: ProviderConfig) -> ProviderAdapter:
    """The adapter for ``name``; SDKs are imported only when their adapter is asked for."""
    return adapter_class(name)(config)


def lists_jobs(name: str) -> bool:
    """Whether ``name``'s adapter lists jobs (``ProviderAdapter.lists_jobs``), without keys."""
    return adapter_class(name).lists_jobs if name in ADAPTER_NAMES else False


def max_list_page(name: str) -> int:
    return adapter_class(name).max_list_page


def default_list_page(name: str) -> int:
    return adapter_class(name).default_list_page


def adapter_class(name: str) -> type[ProviderAdapter]:
    if name == "openai":
        from providers.adapters.openai_adapter import OpenAIAdapter

        return OpenAIAdapter
    if name == "together":
        from providers.adapters.together_adapter import TogetherAdapter

        return TogetherAdapter
    if name == "mistral":
        from providers.adapters.mistral_adapter import MistralAdapter

        return MistralAdapter
    if name == "fireworks":
        from providers.adapters.fireworks_adapter import FireworksAdapter

        return FireworksAdapter
    if name == "vertex":
        from providers.adapters.vertex_adapter import VertexAdapter

        return VertexAdapter
    raise ValueError(f"unknown provider {name!r}; choose one of {', '.join(ADAPTER_NAMES)}")
