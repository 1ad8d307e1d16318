"""fiche-vlm: product fiches → Qwen2-VL (LLaMA-Factory) → vLLM → CAD-ready JSON and OpenSCAD."""
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_FICHES = PROJECT_ROOT / "data" / "fiches.jsonl"  # the embedded sample, the default everywhere
DEFAULT_API_KEY_ENV = "FICHE_API_KEY"  # the variable holding the API key, for the server and its clients
