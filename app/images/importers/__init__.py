"""Importers of other tools' label files: pure parsers (labelstudio.py, coco.py) and the safe
resolution of the image files they name (paths.py)."""
