import sys
from pathlib import Path

# The hostile-partner suite's modules (hostile_data, hostile_forge, ...) are imported as plain
# modules from this folder.
sys.path.insert(0, str(Path(__file__).parent))
