"""Find the installed adapters through the ``gateway.adapters`` entry-point group.

A plugin that fails to load stops start-up with a clear message instead of being skipped, so an agency
never silently loses its feed.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from adapters.base import Adapter

GROUP = "gateway.adapters"


class AdapterLoadError(RuntimeError):
    """An installed adapter could not be loaded or does not implement the protocol."""


def load_adapters() -> dict[str, Adapter]:
    """Instantiate every registered adapter, keyed by its name."""
    found: dict[str, Adapter] = {}
    for ep in entry_points(group=GROUP):
        try:
            cls = ep.load()
            adapter = cls()
        except Exception as exc:  # a broken plugin must stop start-up, with its name
            raise AdapterLoadError(
                f"adapter {ep.name!r} ({ep.value}) failed to load: {exc}"
            ) from exc
        if not isinstance(adapter, Adapter):
            raise AdapterLoadError(
                f"adapter {ep.name!r} ({ep.value}) does not implement the Adapter protocol"
            )
        if adapter.name != ep.name:
            raise AdapterLoadError(f"adapter {ep.name!r} calls itself {adapter.name!r}")
        if ep.name in found:
            raise AdapterLoadError(f"two adapters are registered as {ep.name!r}")
        found[ep.name] = adapter
    return found
