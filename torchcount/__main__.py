"""``python -m torchcount …``: the same command as ``torchcount …`` (torchcount/cli.py)."""
import sys

from .cli import main

sys.exit(main())
