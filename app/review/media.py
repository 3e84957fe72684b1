"""Image URLs for review pages: the images domain's authorizing routes."""
from __future__ import annotations

from app.images.media import image_url, thumbnail_url

__all__ = ["image_url", "thumbnail_url"]
