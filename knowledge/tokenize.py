"""Korean morpheme tokenizer for BM25 and term matching (kiwipiepy).

Owns token normalisation: numbers lose their thousands separators ("1,062" -> "1062") so that
"1,062개소" and "1062곳" meet; Latin is lower-cased; question words are dropped from queries and a
small editable lexicon (``data/lexicon.yaml``) adds the documents' words for everyday ones
("작년" -> "전년도", "곳" -> "개소").
"""

from __future__ import annotations

import datetime
import itertools
import re
import threading
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

_KEEP = {"NNG", "NNP", "NNB", "NR", "NP", "SN", "SL", "SH", "XR", "VV", "VA", "MAG", "W_SERIAL"}
_NUM = re.compile(r"^[\d.,]+$")
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _kiwi() -> Any:
    from kiwipiepy import Kiwi

    return Kiwi()


_PLAN_YEAR = [datetime.date.today().year]


def set_plan_year(year: int) -> None:
    """The year "올해" means in the documents (a 2026 work plan read in 2027 still says 2026)."""
    _PLAN_YEAR[0] = year
    lexicon.cache_clear()


def plan_year() -> int:
    return _PLAN_YEAR[0]


def _year_sub(value: str) -> str:
    y = _PLAN_YEAR[0]
    return (value.replace("{year-1}", str(y - 1)).replace("{year+1}", str(y + 1))
            .replace("{year}", str(y)))


@lru_cache(maxsize=1)
def lexicon() -> tuple[dict[str, tuple[str, ...]], frozenset[str]]:
    text = resources.files("knowledge").joinpath("data/lexicon.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    expand = {str(k): tuple(_year_sub(str(v)) for v in vs) for k, vs in (data.get("expand") or {}).items()}
    stop = frozenset(str(s) for s in (data.get("stop") or []))
    return expand, stop


def _norm(form: str, tag: str) -> list[str]:
    if tag in ("SN", "W_SERIAL") or _NUM.match(form):
        parts = [p for p in re.split(r"[^\d,]+", form) if p.strip(",")]
        return [p.replace(",", "").lstrip("0") or "0" for p in parts]
    if tag == "SL":
        return [form.lower()]
    return [form]


_JOINABLE = ("NNG", "NNP", "NNB", "XR", "SL", "SH", "NR")


def _process(toks: Any) -> tuple[list[str], list[tuple[str, ...]]]:
    """Tokens (morphemes + joined compounds) and the noun runs they came from.

    Kiwi splits the same compound differently by context ("보이스봇" / "보이스"+"봇", "국비" /
    "국"+"비"), so every run of nouns written together also yields its joined form.
    """
    out: list[str] = []
    runs: list[tuple[str, ...]] = []
    run: list[str] = []
    run_end = -1
    for t in toks:
        if not (t.tag in _KEEP or t.tag.startswith("NN")):
            if run:
                runs.append(tuple(run))
            run, run_end = [], -1
            continue
        forms = _norm(t.form, t.tag)
        out.extend(forms)
        if t.tag in _JOINABLE and forms:
            if run and t.start == run_end:
                run.append(forms[0])
            else:
                if run:
                    runs.append(tuple(run))
                run = [forms[0]]
            run_end = t.start + t.len
        else:
            if run:
                runs.append(tuple(run))
            run, run_end = [], -1
            if t.tag not in ("VV", "VA", "MAG"):  # verbs/adverbs are not topic terms
                runs.extend((f,) for f in forms)
    if run:
        runs.append(tuple(run))
    for r in runs:
        if len(r) >= 2:
            out.append("".join(r))
            if len(r) >= 3:
                out.extend(a + b for a, b in itertools.pairwise(r))
    return out, runs


class KiwiTokenizer:
    """Thread-safe morpheme tokenizer; one Kiwi model per process (the bundled default model takes
    ~500 MB of memory, most of the service's footprint, and ~0.7 s to load)."""

    def tokens(self, text: str) -> list[str]:
        return self.analyze(text)[0]

    def analyze(self, text: str) -> tuple[list[str], list[tuple[str, ...]]]:
        with _lock:
            toks = _kiwi().tokenize(text)
        return _process(toks)

    def tokens_batch(self, texts: list[str]) -> list[list[str]]:
        with _lock:
            results = list(_kiwi().tokenize(texts))
        return [_process(toks)[0] for toks in results]

    def query_terms(self, text: str) -> list[tuple[str, ...]]:
        """Topic terms of a question: each a noun run (parts written together) or one word;
        question words and stop words are dropped."""
        _, stop = lexicon()
        terms: list[tuple[str, ...]] = []
        for run in self.analyze(text)[1]:
            # a lone digit ("1년에 몇 번") is not a topic; a year or an amount is
            parts = tuple(p for p in run if p not in stop and not (p.isdigit() and len(p) == 1))
            if parts and parts not in terms:
                terms.append(parts)
        return terms

    def query_tokens(self, text: str) -> list[str]:
        """Flat topic tokens of a question (parts and joined compounds), for BM25. Verbs are left
        out: on KorQuAD they would add 1.3 points of BM25 hit@1, but on the city question sets
        they cost answers (measured; see docs/benchmarks.md)."""
        out: list[str] = []
        for parts in self.query_terms(text):
            out.extend(parts)
            if len(parts) >= 2:
                out.append("".join(parts))
        return list(dict.fromkeys(out))

    def expand(self, tokens: list[str]) -> list[str]:
        exp, _ = lexicon()
        extra: list[str] = []
        for t in tokens:
            for e in exp.get(t, ()):
                if e not in tokens and e not in extra:
                    extra.append(e)
        return extra
