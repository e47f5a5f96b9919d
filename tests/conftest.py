# Shared test set-up: the repository root on sys.path (firmware/ and host_tools/ import as the
# very files that go onto the board) and small helpers for feeding audio through the engine.
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
