"""Converters: users' data (fiches, manual Q&A, CAD JSON, image→code, PDFs) → LLaMA-Factory sharegpt datasets."""
