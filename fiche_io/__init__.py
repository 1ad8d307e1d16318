"""The ground floor every fiche-vlm package may import: files written atomically, JSON and JSONL read under one
strict policy, the predictions record, views read as the user sees them, `file:line` locations, retry, progress,
process groups and where the bundle lives. It imports nothing of the project."""
