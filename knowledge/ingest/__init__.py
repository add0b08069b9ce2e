"""Ingestion: corpus files -> corpus-format text (``formats``) -> structure-aware chunks (``structure``)."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import IngestError
from ..types import Chunk
from .formats import SUPPORTED_SUFFIXES, to_corpus_text
from .structure import parse_document

log = logging.getLogger(__name__)

SKIP_NAMES = frozenset({"readme.md", "source.md", "license", "license.md"})
# Files we cannot read but should say so about, rather than skip silently.
REPORTED_SUFFIXES = frozenset({".hwp", ".doc", ".docx"})


def corpus_files(corpus_dir: Path) -> list[Path]:
    """Every supported file under ``corpus_dir`` (recursively), in a stable order."""
    if not corpus_dir.is_dir():
        raise IngestError(f"corpus folder not found: {corpus_dir}")
    files = [p for p in corpus_dir.rglob("*")
             if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES | REPORTED_SUFFIXES
             and p.name.lower() not in SKIP_NAMES and not any(x.startswith(".") for x in p.parts)]
    return sorted(files)


def load_corpus(corpus_dir: Path, strict: bool = False) -> tuple[list[Chunk], list[str]]:
    """Chunks of every readable file, and a list of problems with the files that were skipped."""
    chunks: list[Chunk] = []
    problems: list[str] = []
    for path in corpus_files(corpus_dir):
        rel = path.relative_to(corpus_dir).as_posix()
        try:
            text = to_corpus_text(path)
        except IngestError as exc:
            if strict:
                raise
            problems.append(f"{rel}: {exc}")
            log.warning("skipped %s: %s", rel, exc)
            continue
        chunks.extend(parse_document(text, rel))
    return chunks, problems


__all__ = ["corpus_files", "load_corpus", "parse_document"]
