"""The ground floor every fiche-vlm package may import: files written atomically, JSON and JSONL read under one
strict policy, the predictions record, retry, progress and process groups. It imports nothing of the project."""
