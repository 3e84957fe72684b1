"""What a class's name says about it (pure: no database)."""
from __future__ import annotations

# A class named like one of these means "no defect": its images have no boxes (the labeling page's
# one-key OK answer, and the rule that keeps a final label self-consistent).
OK_NAMES = ("ok", "good", "pass", "no defect", "none", "okay")


def is_ok_name(name: str) -> bool:
    return name.strip().lower() in OK_NAMES
