"""``python -m attnsr`` (also what ``torchrun -m attnsr train ...`` runs)."""

import sys

from .cli.main import main

sys.exit(main())
