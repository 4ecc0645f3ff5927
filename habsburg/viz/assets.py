"""Vega for the Altair panels without the internet.

Solara's Altair widget loads ``vega@5``, ``vega-lite@5`` and ``vega-embed@6`` (major versions)
through the server's CDN proxy; the ``solara-assets`` package bundles exact versions of them
(``vega@5.21.0`` ...), which the proxy does not match to a major version, so offline the charts
stayed blank. :func:`serve_bundled_vega` points the proxy at a directory of links to the bundled
files plus the major-version names. Nothing is downloaded; when the bundle lacks Vega the proxy is
left as it was.

The directory of links belongs to one bundle (its name carries a digest of the bundle's path), and
a link that points anywhere but where it should (a bundle since deleted or upgraded) is replaced.
Until 2026-12-02 every installation of a user shared one directory, whose links pointed into
whichever installation made it first: deleting that one left every other viz page blank offline.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import cast

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
    bundle = hashlib.sha1(str(cache.resolve()).encode()).hexdigest()[:12]
    target = directory or Path(tempfile.gettempdir()) / f"habsburg-solara-cdn-{uid}-{bundle}"
    try:
        target.mkdir(parents=True, exist_ok=True)
        links = {entry.name: entry for entry in cache.iterdir()}
        # every source was found (checked above)
        links.update({f"{p}@{MAJOR[p]}": cast(Path, src) for p, src in sources.items()})
        for name, src in links.items():
            _link(target / name, src)
    except OSError as err:
        log.warning(
            "cannot serve the bundled Vega from %s (%s); charts need the internet", target, err
        )
        return None
    settings.proxy_cache_dir = target
    return target


def _link(link: Path, src: Path) -> None:
    """Make ``link`` a symbolic link to ``src`` (resolved): kept if it already is one, replaced
    in one step if it is a link to anywhere else, and left alone if it is not a link."""
    want = src.resolve()
    if link.is_symlink():
        if Path(os.readlink(link)) == want:
            return
    elif link.exists():
        return
    spare = link.with_name(f".{link.name}.{os.getpid()}")
    spare.unlink(missing_ok=True)
    spare.symlink_to(want, target_is_directory=want.is_dir())
    os.replace(spare, link)  # atomic: a server reading the link sees the old one or the new one
