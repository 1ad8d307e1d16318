"""fiche-vlm: product fiches → Qwen2-VL (LLaMA-Factory) → vLLM → CAD-ready JSON and OpenSCAD."""
from fiche_io.paths import PROJECT_ROOT

SAMPLE_FICHES = PROJECT_ROOT / "data" / "fiches.jsonl"  # the embedded sample, the default everywhere
DEFAULT_API_KEY_ENV = "FICHE_API_KEY"  # the variable holding the API key, for the server and its clients
