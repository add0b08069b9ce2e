"""Complaint routing: which team handles a citizen complaint, whether it is urgent, and why.

``TableRouter`` reads the routing table (``routing.yaml`` next to this module, editable by city
staff: departments -> teams with duties, weighted keywords, example complaints; a hazard lexicon;
thresholds) and scores every team:

1. keyword rules on the text with spaces and punctuation removed ("버스 정보" = "버스정보"); a
   keyword found only inside a longer matched keyword does not count again (so "세금낭비" is
   evidence for 예산팀, not also "세금" for 납세자보호관); optional regex patterns;
2. optionally, the similarity of the complaint to each team's example complaints (any
   ``knowledge.embedders.Embedder``), added only when one team clearly stands out;
3. safety hazards (sinkholes, open manholes, fallen trees, dangling wires, broken signals, ...)
   make the complaint urgent and send it to the team owning the hazard (default 현장기동팀 first
   response), unless a negation right after the hazard says otherwise ("싱크홀까지는 아니고");
4. when the evidence is weak or split, the complaint goes to the 바로처리팀 triage queue with a
   reason - it is never dropped.

The reason is a short Korean sentence naming the words that decided, e.g.
``'신호등', '고장' → 지능형교통정보팀(교통신호·버스정보); 안전 위험(신호 고장) → 긴급``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml

from knowledge.embedders import Embedder

from ..errors import AssistantError

log = logging.getLogger(__name__)

MAX_CHARS = 2000
_PUNCT = re.compile(r"[\W_]+")
_ASCII = re.compile(r"[a-z0-9]")


class RoutingTableError(AssistantError, ValueError):
    """The routing table file is missing, not YAML, or inconsistent (names the bad entry)."""


@dataclass(frozen=True, slots=True)
class Route:
    category: str
    department: str
    team: str
    urgent: bool
    confidence: float
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"category": self.category, "department": self.department, "team": self.team,
                "urgent": self.urgent, "confidence": round(self.confidence, 3), "reason": self.reason}


class Router(Protocol):
    """Routes one complaint text to a team. Raises ``ValueError`` for an empty text."""

    def route(self, text: str) -> Route: ...


def compact(text: str) -> str:
    """NFKC, lower case, no spaces or punctuation: the form keywords are matched in."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", text).lower())


class Term:
    """One keyword, matched in compact text; Latin edges must not touch other Latin letters."""

    __slots__ = ("key", "label", "pattern")

    def __init__(self, label: str) -> None:
        self.label = str(label)
        self.key = compact(self.label)
        if not self.key:
            raise RoutingTableError(f"empty keyword {label!r}")
        pre = r"(?<![a-z0-9])" if _ASCII.match(self.key[0]) else ""
        post = r"(?![a-z0-9])" if _ASCII.match(self.key[-1]) else ""
        self.pattern = re.compile(pre + re.escape(self.key) + post) if pre or post else None

    def spans(self, text: str) -> list[tuple[int, int]]:
        if self.pattern is not None:
            return [m.span() for m in self.pattern.finditer(text)]
        out, i = [], text.find(self.key)
        while i >= 0:
            out.append((i, i + len(self.key)))
            i = text.find(self.key, i + 1)
        return out


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    department: str
    office: str
    description: str
    category: str
    keywords: tuple[tuple[Term, float], ...]
    patterns: tuple[tuple[re.Pattern[str], float], ...]
    categories: tuple[tuple[str, frozenset[str]], ...]
    examples: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Hazard:
    name: str
    terms: tuple[Term, ...]
    objects: tuple[Term, ...]
    states: tuple[Term, ...]
    context: tuple[Term, ...]
    unless: tuple[Term, ...]
    team: str | None
    category: str | None


@dataclass(frozen=True, slots=True)
class RoutingTable:
    teams: dict[str, Team]
    hazards: tuple[Hazard, ...]
    negations: tuple[str, ...]
    thresholds: dict[str, float]
    triage_team: str
    triage_category: str
    urgent_team: str
    urgent_category: str


DEFAULT_THRESHOLDS = {"min_confidence": 0.35, "confidence_scale": 3.0, "embedding_weight": 3.0,
                      "embedding_margin": 3.5, "embedding_full": 5.5, "hazard_window": 14, "negation_window": 10}


def default_table_path() -> Path:
    return Path(str(resources.files("assistant.complaints").joinpath("routing.yaml")))


def _terms(values: Any, where: str) -> tuple[Term, ...]:
    if values is None:
        return ()
    if not isinstance(values, list):
        raise RoutingTableError(f"{where}: expected a list of words")
    return tuple(Term(str(v)) for v in values)


def load_table(path: str | Path | None = None) -> RoutingTable:
    """Parse and check the routing table; errors name the department/team/field at fault."""
    p = Path(path) if path is not None else default_table_path()
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RoutingTableError(f"cannot read routing table {p}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("departments"), dict):
        raise RoutingTableError(f"{p}: needs a 'departments' mapping")
    teams: dict[str, Team] = {}
    for dept, dspec in data["departments"].items():
        dspec = dspec or {}
        if not isinstance(dspec, dict) or not isinstance(dspec.get("teams") or {}, dict):
            raise RoutingTableError(f"{p.name}: {dept}: needs a 'teams' mapping")
        for name, spec in (dspec.get("teams") or {}).items():
            where = f"{p.name}: {dept}/{name}"
            spec = spec or {}
            if not isinstance(spec, dict):
                raise RoutingTableError(f"{where}: expected description/category/keywords/examples fields")
            if name in teams:
                raise RoutingTableError(f"{where}: team name appears twice")
            try:
                kws = tuple((Term(k), float(w)) for k, w in (spec.get("keywords") or {}).items())
                pats = tuple((re.compile(str(k)), float(w)) for k, w in (spec.get("patterns") or {}).items())
                cats = tuple((str(c["label"]), frozenset(t.key for t in _terms(c.get("keywords"), where)))
                             for c in (spec.get("categories") or []))
            except (TypeError, ValueError, KeyError, AttributeError, re.error) as exc:
                raise RoutingTableError(f"{where}: bad keywords/patterns/categories ({exc})") from exc
            teams[str(name)] = Team(str(name), str(dept), str(dspec.get("office") or ""),
                                    str(spec.get("description") or ""), str(spec.get("category") or name),
                                    kws, pats, cats, tuple(str(e) for e in spec.get("examples") or []))
    hazards = []
    for i, h in enumerate(data.get("hazards") or []):
        where = f"{p.name}: hazards[{i}]"
        if not isinstance(h, dict) or "name" not in h:
            raise RoutingTableError(f"{where}: needs a name")
        hz = Hazard(str(h["name"]), _terms(h.get("terms"), where), _terms(h.get("objects"), where),
                    _terms(h.get("states"), where), _terms(h.get("context"), where),
                    _terms(h.get("unless"), where), str(h["team"]) if h.get("team") else None,
                    str(h["category"]) if h.get("category") else None)
        if hz.team is not None and hz.team not in teams:
            raise RoutingTableError(f"{where}: unknown team {hz.team!r}")
        if bool(hz.objects) != bool(hz.states):
            raise RoutingTableError(f"{where}: objects and states go together")
        hazards.append(hz)
    triage, urgent = data.get("triage") or {}, data.get("urgent_default") or {}
    if not isinstance(triage, dict) or not isinstance(urgent, dict):
        raise RoutingTableError(f"{p.name}: triage and urgent_default need team/category fields")
    try:
        thresholds = {**DEFAULT_THRESHOLDS, **{str(k): float(v) for k, v in (data.get("thresholds") or {}).items()}}
    except (TypeError, ValueError, AttributeError) as exc:
        raise RoutingTableError(f"{p.name}: thresholds must be numbers ({exc})") from exc
    table = RoutingTable(teams, tuple(hazards), tuple(compact(str(n)) for n in data.get("negations") or []),
                         thresholds, str(triage.get("team", "바로처리팀")),
                         str(triage.get("category", "분류 보류(바로처리팀 검토)")),
                         str(urgent.get("team", "현장기동팀")), str(urgent.get("category", "긴급 안전조치")))
    for role, team in (("triage", table.triage_team), ("urgent_default", table.urgent_team)):
        if team not in teams:
            raise RoutingTableError(f"{p.name}: {role} team {team!r} is not in departments")
    return table


@dataclass(frozen=True, slots=True)
class _Hit:
    hazard: Hazard
    words: tuple[str, ...]


class TableRouter:
    """Keyword/phrase rules + optional example similarity + hazard lexicon, from the YAML table."""

    def __init__(self, embedder: Embedder | None = None, table: str | Path | RoutingTable | None = None,
                 cache_dir: Path | None = None) -> None:
        self.table = table if isinstance(table, RoutingTable) else load_table(table)
        self.embedder = embedder
        self._labels: list[str] = []
        self._examples: list[str] = []
        self._matrix: Any = None
        if embedder is not None:
            for team in self.table.teams.values():
                for ex in team.examples:
                    self._labels.append(team.name)
                    self._examples.append(ex)
            if self._examples:
                self._matrix = self._embed_examples(embedder, cache_dir)

    def _embed_examples(self, embedder: Embedder, cache_dir: Path | None) -> Any:
        key = hashlib.sha256("\n".join([embedder.model_id, *self._labels, *self._examples]).encode()).hexdigest()
        cache = cache_dir / f"routing-examples-{key[:16]}.npy" if cache_dir is not None else None
        if cache is not None and cache.exists():
            try:
                m = np.load(cache)
                if m.shape == (len(self._examples), embedder.dim):
                    return m
            except (OSError, ValueError):
                log.warning("ignoring unreadable routing cache %s", cache)
        m = embedder.embed_queries(self._examples)
        if cache is not None:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                for old in cache.parent.glob("routing-examples-*.npy"):
                    old.unlink()  # from an earlier version of the table or another model
                np.save(cache, m)
            except OSError:
                log.warning("cannot write routing cache %s", cache)
        return m

    # -- evidence ---------------------------------------------------------------------------

    def _keyword_scores(self, c: str) -> tuple[dict[str, float], dict[str, list[str]], dict[str, set[str]]]:
        """Team scores, the words that earned them (strongest first) and the matched keyword keys."""
        found = []  # (length, start, end, team, term, weight)
        for team in self.table.teams.values():
            for term, weight in team.keywords:
                for s, e in term.spans(c):
                    found.append((e - s, s, e, team.name, term, weight))
        found.sort(key=lambda f: -f[0])
        accepted: list[tuple[int, int, int]] = []
        scores: dict[str, float] = {}
        earned: dict[str, list[tuple[float, int, str]]] = {}
        keys: dict[str, set[str]] = {}
        for length, s, e, name, term, weight in found:
            if any(a <= s and e <= b and length < n for n, a, b in accepted):
                continue  # only inside a longer keyword that already counted
            accepted.append((length, s, e))
            if term.key in keys.setdefault(name, set()):
                continue
            keys[name].add(term.key)
            scores[name] = scores.get(name, 0.0) + weight
            earned.setdefault(name, []).append((weight, s, term.label))
        for team in self.table.teams.values():
            for pat, weight in team.patterns:
                m = pat.search(c)
                if m:
                    scores[team.name] = scores.get(team.name, 0.0) + weight
                    snippet = m.group(0) if len(m.group(0)) <= 10 else m.group(0)[:9] + "…"
                    earned.setdefault(team.name, []).append((weight - 0.01, m.start(), snippet))
        words = {}
        for name, ws in earned.items():
            ordered = [w for _, _, w in sorted(ws, key=lambda x: (-x[0], x[1]))]
            plain = [label for label in ordered if label in {term.label for term, _ in self.table.teams[name].keywords}]
            words[name] = plain or ordered  # pattern snippets only when no keyword explains the team
        return scores, words, keys

    def _embedding_scores(self, text: str) -> tuple[dict[str, float], str]:
        if self.embedder is None or self._matrix is None:
            return {}, ""
        sims = self._matrix @ self.embedder.embed_queries([text])[0]
        best: dict[str, tuple[float, int]] = {}
        for i, (label, sim) in enumerate(zip(self._labels, sims.tolist(), strict=True)):
            if label not in best or sim > best[label][0]:
                best[label] = (float(sim), i)
        ranked = sorted(best.items(), key=lambda kv: -kv[1][0])
        if len(ranked) < 3:
            return {}, ""
        top, (s1, i1) = ranked[0]
        rest = np.array([v[0] for _, v in ranked[1:]])
        # how far the best team stands out from the others, in standard deviations: the same scale
        # for every embedder (raw cosine values of e5 and of the hashing embedder differ a lot)
        lead = (s1 - float(rest.mean())) / (float(rest.std()) + 1e-6)
        th = self.table.thresholds
        if lead < th["embedding_margin"]:
            return {}, ""
        span = max(1e-6, th["embedding_full"] - th["embedding_margin"])
        gain = th["embedding_weight"] * min(1.0, (lead - th["embedding_margin"]) / span)
        return {top: gain}, self._examples[i1]

    def _negated(self, c: str, end: int) -> bool:
        tail = c[end : end + int(self.table.thresholds["negation_window"])]
        return any(n in tail for n in self.table.negations)

    def _hazards(self, c: str) -> list[_Hit]:
        window = int(self.table.thresholds["hazard_window"])
        hits = []
        for hz in self.table.hazards:
            if (hz.context and not any(t.spans(c) for t in hz.context)) or any(t.spans(c) for t in hz.unless):
                continue
            hit: tuple[str, ...] | None = None
            for t in hz.terms:
                if any(not self._negated(c, e) for _, e in t.spans(c)):
                    hit = (t.label,)
                    break
            if hit is None and hz.objects:
                objs = [(s, e, t.label) for t in hz.objects for s, e in t.spans(c)]
                for st in hz.states:
                    for s2, e2 in st.spans(c):
                        near = [(lab, max(e1, e2)) for s1, e1, lab in objs
                                if (e1 <= s2 and s2 - e1 <= window) or (e2 <= s1 and s1 - e2 <= 3)]
                        if near and not self._negated(c, near[0][1]):
                            hit = (near[0][0], st.label)
                            break
                    if hit:
                        break
            if hit:
                hits.append(_Hit(hz, hit))
        return hits

    # -- decision ---------------------------------------------------------------------------

    def _confidence(self, top: float, second: float) -> float:
        if top <= 0:
            return 0.0
        strength = 1.0 - math.exp(-top / self.table.thresholds["confidence_scale"])
        return strength * (0.5 + 0.5 * max(0.0, top - second) / top)

    def _category(self, team: Team, keys: set[str]) -> str:
        for label, words in team.categories:
            if words & keys:
                return label
        return team.category

    def hold(self, reason: str, confidence: float = 0.0) -> Route:
        """A complaint kept in the triage queue (바로처리팀) with ``reason``: never dropped."""
        team = self.table.teams[self.table.triage_team]
        return Route(self.table.triage_category, team.department, team.name, False, confidence, reason)

    def route(self, text: str) -> Route:
        """Route one complaint; empty text raises ``ValueError``, text beyond 2,000 characters is cut."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("민원 내용이 비어 있습니다")
        text = unicodedata.normalize("NFC", " ".join(text.split()))[:MAX_CHARS]
        c = compact(text)
        if not c:
            raise ValueError("민원 내용이 비어 있습니다")
        scores, words, keys = self._keyword_scores(c)
        emb, example = self._embedding_scores(text)
        for name, gain in emb.items():
            scores[name] = scores.get(name, 0.0) + gain
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        top, s1 = ranked[0] if ranked else ("", 0.0)
        s2 = ranked[1][1] if len(ranked) > 1 else 0.0
        conf = self._confidence(s1, s2)
        hits = self._hazards(c)
        t = self.table

        def because(name: str) -> str:
            label = f"{name}({self._category(t.teams[name], keys.get(name, set()))})"
            head = ", ".join(f"'{w}'" for w in words.get(name, [])[:4])
            if name in emb:
                head = (head + ", " if head else "") + f"비슷한 사례 '{example}'"
            return f"{head} → {label}" if head else label

        if hits:
            owner = next((h.hazard.team for h in hits if h.hazard.team), None) or t.urgent_team
            hz = next((h for h in hits if h.hazard.team == owner), hits[0])
            team = t.teams[owner]
            danger = f"안전 위험({hz.hazard.name}: {'+'.join(repr(w) for w in hz.words)}) → 긴급"
            if owner == t.urgent_team and owner != top:
                reason = f"{danger}, {owner} 초동대응"
                if top and conf >= t.thresholds["min_confidence"] and s1 >= 3:
                    reason += f" (관련 업무: {because(top)})"
            elif owner == t.urgent_team:
                reason = f"{danger}, {owner} 초동대응 ({because(owner)})"
            else:
                reason = f"{because(owner)}; {danger}"
            category = hz.hazard.category or (t.urgent_category if owner == t.urgent_team
                                              else self._category(team, keys.get(owner, set())))
            return Route(category, team.department, owner, True, max(conf if owner == top else 0.0, 0.9), reason)

        threshold = t.thresholds["min_confidence"]
        if not top or conf < threshold:
            if not top:
                why = "담당 업무를 가리키는 단어를 찾지 못함"
            elif s2 > 0 and s2 >= 0.6 * s1:
                why = f"{because(top)} / {because(ranked[1][0])} 판단이 엇갈림"
            else:
                why = f"근거 약함({because(top)})"
            return self.hold(f"{why}, 신뢰도 {conf:.2f} < {threshold:.2f} → {t.triage_team}에서 담당 팀 지정", conf)
        team = t.teams[top]
        return Route(self._category(team, keys.get(top, set())), team.department, top, False, conf, because(top))
