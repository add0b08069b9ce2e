"""Errors raised by the knowledge package.

    KnowledgeError                      base; ``transient`` says whether a retry may help
    ├── IngestError                     a corpus file could not be read or parsed
    │   └── UnsupportedFormatError      no loader for the file type (e.g. legacy binary .hwp)
    ├── IndexNotBuiltError              no index on disk yet (run ``index``)
    ├── IndexMismatchError              index built with another embedder / schema version
    ├── EmbedderError                   the embedding backend failed (model missing, bad input)
    ├── BadQueryError                   the question is empty, too long or not text
    └── AnswererError                   the (optional) generative answerer failed; transient

Third-party exceptions are translated where they occur; callers (assistant/, channels/) decide how
an error reaches a person.
"""

from __future__ import annotations


class KnowledgeError(Exception):
    transient: bool = False


class IngestError(KnowledgeError):
    pass


class UnsupportedFormatError(IngestError):
    pass


class IndexNotBuiltError(KnowledgeError):
    pass


class IndexMismatchError(KnowledgeError):
    pass


class EmbedderError(KnowledgeError):
    pass


class BadQueryError(KnowledgeError):
    pass


class AnswererError(KnowledgeError):
    transient = True
