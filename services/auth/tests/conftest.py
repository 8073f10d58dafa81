"""The auth tests' helper module lives beside them (imported by name, like the emulator's)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
