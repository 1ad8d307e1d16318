"""`fiche annotate`: write and correct gold fiches in a local web page, with the model's draft to start from.

store: the fiche JSONL, each fiche's status and draft (a sidecar file), one-line atomic saves.
form: a fiche answer ↔ the page's form fields, in the schema's order, and its problems per field.
drafts: the model's answer for a fiche, from a predictions file or asked live from an endpoint.
app: the Gradio page (wiring only).
"""
