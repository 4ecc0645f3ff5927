"""Vega for the Altair panels without the internet.

Solara's Altair widget loads ``vega@5``, ``vega-lite@5`` and ``vega-embed@6`` (major versions)
through the server's CDN proxy; the ``solara-assets`` package bundles exact versions of them
(``vega@5.21.0`` ...), which the proxy does not match to a major version, so offline the charts
stayed blank. :func:`serve_bundled_vega` points the proxy at a directory of links to the bundled
files plus the major-version names. Nothing is downloaded; when the bundle lacks Vega the proxy is
left as it was.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import solara.server.settings

log = logging.getLogger("habsburg.viz")

#: package -> major version Solara's Altair widget asks for
MAJOR = {"vega": "5", "vega-lite": "5", "vega-embed": "6"}


def _bundled(cache: Path, package: str, major: str) -> Path | None:
    found = sorted(cache.glob(f"{package}@{major}.*"))
    return found[-1] if found else None


def serve_bundled_vega(directory: Path | None = None) -> Path | None:
    """Serve the bundled Vega under the major-version names; returns the proxy's new directory
    (None when nothing needed or could be done)."""
    settings = solara.server.settings.assets
    cache = Path(settings.proxy_cache_dir)
    if all((cache / f"{p}@{m}").exists() for p, m in MAJOR.items()):
        return None  # already served (or fetched once while online)
    sources = {p: _bundled(cache, p, m) for p, m in MAJOR.items()}
    if not cache.is_dir() or not all(sources.values()):
        return None
    uid = os.getuid() if hasattr(os, "getuid") else 0
    target = directory or Path(tempfile.gettempdir()) / f"habsburg-solara-cdn-{uid}"
    try:
        target.mkdir(parents=True, exist_ok=True)
        links = {entry.name: entry for entry in cache.iterdir()}
        links.update({f"{p}@{MAJOR[p]}": src for p, src in sources.items()})
        for name, src in links.items():
            link = target / name
            if not link.exists():
                try:
                    link.symlink_to(src.resolve(), target_is_directory=src.is_dir())
                except FileExistsError:  # another server process made it meanwhile
                    pass
    except OSError as err:
        log.warning(
            "cannot serve the bundled Vega from %s (%s); charts need the internet", target, err
        )
        return None
    settings.proxy_cache_dir = target
    return target
