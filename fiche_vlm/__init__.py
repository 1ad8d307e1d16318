"""fiche-vlm: product fiches → Qwen2-VL (LLaMA-Factory) → vLLM → CAD-ready JSON and OpenSCAD."""
import sys
from pathlib import Path


def _bundle_root() -> Path:
    """Where the embedded sample, the recipes and the dataset registry live: the checkout this package sits in,
    or, for `pip install .`, the copy installed under <prefix>/share/fiche-vlm."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "data" / "fiches.jsonl").is_file():
        return checkout
    return Path(sys.prefix) / "share" / "fiche-vlm"


PROJECT_ROOT = _bundle_root()
SAMPLE_FICHES = PROJECT_ROOT / "data" / "fiches.jsonl"  # the embedded sample, the default everywhere
DEFAULT_API_KEY_ENV = "FICHE_API_KEY"  # the variable holding the API key, for the server and its clients
