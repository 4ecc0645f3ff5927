"""The world and the shared internet, and the Mesa model that wires everything."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from habsburg.ecosystem.model import EcosystemModel

__all__ = ["EcosystemModel"]


def __getattr__(name: str):
    # Lazy so that ``habsburg.agents`` and ``habsburg.ecosystem`` can import each other's modules.
    if name == "EcosystemModel":
        from habsburg.ecosystem.model import EcosystemModel

        return EcosystemModel
    raise AttributeError(name)
