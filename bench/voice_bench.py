"""``python -m bench.voice_bench``: the voice benchmark, FastAGI vs pyst2 AGI vs native
dialplan. It lives in bench/voice/ (see its __init__.py); this is its documented command."""

import sys

from bench.voice.cli import main

if __name__ == "__main__":
    sys.exit(main())
