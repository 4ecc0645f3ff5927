"""``python -m habsburg.cli``: the same as the ``habsburg`` command."""

import sys

from habsburg.cli import main

sys.exit(main())
