"""``python -m habsburg.cli``: the same as the ``habsburg`` command."""

from habsburg.cli import entry

entry()
