"""``python -m bench.voice``: the voice benchmark (bench/voice/__init__.py)."""

import sys

from bench.voice.cli import main

sys.exit(main())
