"""Postprocess: extract, validate and canonicalise model output; emit OpenSCAD; run CadQuery safely."""
