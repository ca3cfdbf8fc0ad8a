"""``python -m graphspec.cli``: the same as the ``graphspec`` console script (and what
``torchrun -m graphspec.cli bench ...`` starts on every rank)."""

import sys

from graphspec.cli import main

sys.exit(main())
