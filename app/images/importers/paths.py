"""Image references from an import file, resolved to files inside the images root and nowhere else.

A reference may be a relative path (`images/img_000002.jpg`), a Label Studio local-files URL
(`/data/local-files/?d=insp/images/img.jpg`), an upload path (`/data/upload/3/8f1c-img.jpg`) or a URL.
Nothing is fetched from the network; absolute paths, `..` segments and symlinks leading out of the
root are refused, with the field that named them.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, unquote, urlsplit

from app.core.errors import Invalid


class ImagesRoot:
    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise Invalid(f"the images root {root} is not a directory", field="images_root")
        self.root = root.resolve()
        self._by_name: dict[str, Path | None] | None = None

    def resolve(self, reference: str, *, field: str) -> Path:
        """The file the reference names; raises Invalid (naming `field`) when it is missing or
        would lie outside the root."""
        relative = self._relative(reference, field=field)
        candidates = [relative, PurePosixPath(relative.name)]
        for candidate in candidates:
            found = self._inside(candidate, reference=reference, field=field)
            if found is not None:
                return found
        by_name = self._index().get(relative.name)
        if by_name is not None:
            return by_name
        raise Invalid(f"{reference!r} was not found under {self.root}", field=field)

    def _relative(self, reference: str, *, field: str) -> PurePosixPath:
        if "\x00" in reference:
            raise Invalid("the image reference contains a NUL character", field=field)
        parts = urlsplit(reference)
        path = unquote(parts.path)
        if parts.scheme in ("http", "https", "s3", "gs", "azure-blob"):
            path = unquote(parts.path).rsplit("/", 1)[-1]  # never fetched: looked up by name
        elif "d" in parse_qs(parts.query):  # Label Studio local files: ?d=<dir>/<file>
            path = parse_qs(parts.query)["d"][0]
        elif path.startswith("/data/upload/"):
            path = path.rsplit("/", 1)[-1]
        elif parts.scheme:
            raise Invalid(f"unsupported image reference {reference!r}", field=field)
        path = path.replace("\\", "/")
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise Invalid(f"the image reference {reference!r} must be a path inside the images root", field=field)
        return pure

    def _inside(self, relative: PurePosixPath, *, reference: str, field: str) -> Path | None:
        target = (self.root / Path(*relative.parts)).resolve()
        if not target.is_relative_to(self.root):
            raise Invalid(f"the image reference {reference!r} leads outside the images root", field=field)
        return target if target.is_file() else None

    def _index(self) -> dict[str, Path | None]:
        """File name -> path for every file under the root (None where a name occurs twice)."""
        if self._by_name is None:
            self._by_name = {}
            for path in self.root.rglob("*"):
                if path.is_file() and path.resolve().is_relative_to(self.root):
                    self._by_name[path.name] = None if path.name in self._by_name else path.resolve()
        return self._by_name
