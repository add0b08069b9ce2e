"""Photos attached to complaints: size and type checked by content (not by name or header), stored
under the data folder with a random id, readable by staff only (served through /admin)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from .errors import AssistantError

MAX_BYTES = 5 * 1024 * 1024
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "png"),
    (b"GIF87a", 0, "gif"),
    (b"GIF89a", 0, "gif"),
    (b"WEBP", 8, "webp"),
)
_ID = re.compile(r"^[0-9a-f]{32}$")
TYPES = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}


class MediaError(AssistantError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def sniff(data: bytes) -> str | None:
    for magic, offset, ext in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic and (ext != "webp" or data[:4] == b"RIFF"):
            return ext
    return None


class MediaStore:
    def __init__(self, directory: Path, max_bytes: int = MAX_BYTES) -> None:
        self.dir = directory
        self.max_bytes = max_bytes

    def save(self, data: bytes) -> str:
        if len(data) > self.max_bytes:
            raise MediaError(f"사진은 {self.max_bytes // (1024 * 1024)}MB 이하만 올릴 수 있습니다.", 413)
        if not data:
            raise MediaError("빈 파일입니다.", 400)
        ext = sniff(data)
        if ext is None:
            raise MediaError("사진 파일(JPG, PNG, GIF, WEBP)만 올릴 수 있습니다.", 415)
        self.dir.mkdir(parents=True, exist_ok=True)
        media_id = uuid.uuid4().hex
        (self.dir / f"{media_id}.{ext}").write_bytes(data)
        return media_id

    def find(self, media_id: str) -> tuple[Path, str] | None:
        if not _ID.match(media_id):
            return None
        for ext, ctype in TYPES.items():
            p = self.dir / f"{media_id}.{ext}"
            if p.exists():
                return p, ctype
        return None
