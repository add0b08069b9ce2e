"""Complaint routing: dev-set cases, urgent hazards, look-alikes, triage, an edited table, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from assistant.complaints.routing import Route, RoutingTableError, TableRouter, default_table_path, load_table
from eval.routing import score
from knowledge.embedders import HashingEmbedder

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_KEYS = {"category", "department", "team", "urgent", "confidence", "reason"}


@pytest.fixture(scope="module")
def router() -> TableRouter:
    return TableRouter(None)  # rules only


# the development set (../shared/dev-eval/routing.jsonl), copied so the test stands alone
DEV = [
    ("도로에 큰 구멍이 패여서 차가 튕겼어요. 사고 날 것 같아요.", ["현장기동팀"], True),
    ("놀이터 그네 줄이 끊어져 있어요.", ["바로처리팀", "현장기동팀"], False),
    ("시정 운영에 대해 시장님께 제안드리고 싶은 내용이 있습니다.", ["진심소통팀"], False),
    ("버스정보 안내기에 도착 시간이 엉터리로 나와요.", ["지능형교통정보팀"], False),
    ("초등학교 앞 통학로에 CCTV 설치를 요청합니다.", ["스마트영상정보팀"], False),
    ("세무조사를 좀 미뤄줄 수 있는지 상담받고 싶어요.", ["납세자보호관"], False),
    ("창업하려는데 조례 규제가 너무 과도합니다. 개선해 주세요.", ["규제개혁팀"], False),
    ("예산 낭비 사례를 신고하고 싶어요.", ["예산팀", "예산과"], False),
    ("청년 이사비 지원 대상인지 알고 싶어요.", ["인구정책팀"], False),
    ("전봇대 전선이 끊어져서 길에 늘어져 있어요. 감전될까 무서워요.", ["현장기동팀"], True),
    ("콜센터 전화가 계속 통화중이라 연결이 안 돼요.", ["민원콜센터팀"], False),
    ("신호등이 고장나서 계속 빨간불이에요.", ["지능형교통정보팀"], True),
    ("쓰레기가 길가에 며칠째 방치돼 있어요.", ["바로처리팀", "현장기동팀"], False),
    ("담당 부서가 어딘지 몰라서 몇 달째 해결이 안 되는 배수로 문제가 있어요.", ["현장기동팀", "바로처리팀"], False),
    ("행정 서비스 개선 아이디어 공모에 참여하고 싶어요.", ["진심소통팀", "규제개혁팀"], False),
]


@pytest.mark.parametrize(("text", "teams", "urgent"), DEV)
def test_dev_set_rules_only(router: TableRouter, text: str, teams: list[str], urgent: bool) -> None:
    r = router.route(text)
    assert r.team in teams, r.reason
    assert r.urgent is urgent, r.reason
    assert r.reason and 0.0 <= r.confidence <= 1.0


# (text, team the first response goes to)
HAZARDS = [
    ("도로 한가운데가 푹 꺼져서 싱크홀이 생겼어요", "현장기동팀"),
    ("아파트 입구 인도에 땅꺼짐이 생겼어요", "현장기동팀"),
    ("맨홀 뚜껑이 열려 있어요 빨리 와주세요", "현장기동팀"),
    ("상가 앞 맨홀뚜껑이 아예 없어졌어요", "현장기동팀"),
    ("바람에 가로수가 쓰러져서 차로를 막고 있어요", "현장기동팀"),
    ("큰 나무가 넘어지면서 전깃줄에 걸려있어요", "현장기동팀"),
    ("전신주가 옆으로 기울어져 있어요", "현장기동팀"),
    ("끊어진 전선이 바닥까지 늘어져 있어요", "현장기동팀"),
    ("고압선이 아래로 쳐져서 트럭에 닿을 것 같아요", "현장기동팀"),
    ("사거리 신호등이 전부 꺼져 있어요", "지능형교통정보팀"),
    ("보행자 신호등이 고장나서 초록불이 안 켜져요", "지능형교통정보팀"),
    ("신호기가 계속 노란불만 깜빡여요", "지능형교통정보팀"),
    ("국도 진입로에 포트홀이 크게 생겼어요", "현장기동팀"),
    ("축대에 금이 가고 흙이 흘러내려요", "현장기동팀"),
    ("고가도로 위에 화물차에서 떨어진 철판이 있어요", "현장기동팀"),
    ("건물 간판이 반쯤 떨어져서 덜렁거려요", "현장기동팀"),
    ("공사장 가림막 펜스가 인도 쪽으로 넘어져 있어요", "현장기동팀"),
    ("지하차도가 물에 잠겼어요", "현장기동팀"),
    ("골목에서 가스 새는 냄새가 심하게 나요", "현장기동팀"),
    ("다리 난간이 부서져 있어요", "현장기동팀"),
    ("변압기에서 펑 소리가 나고 연기가 나요", "현장기동팀"),
    ("빗물받이 덮개가 깨져서 구멍이 났어요", "현장기동팀"),
    ("급한 건 아닌데 경사면에 흙이 조금씩 흘러내려요", "현장기동팀"),
]


@pytest.mark.parametrize(("text", "team"), HAZARDS)
def test_hazards_are_urgent(router: TableRouter, text: str, team: str) -> None:
    r = router.route(text)
    assert r.urgent, r.reason
    assert r.team == team, r.reason
    assert "긴급" in r.reason and "안전 위험" in r.reason
    assert r.confidence >= 0.9


def test_urgent_recall_is_total(router: TableRouter) -> None:
    assert sum(router.route(t).urgent for t, _ in HAZARDS) == len(HAZARDS)


LOOK_ALIKES = [
    "위험하진 않은데 벤치가 낡았어요",
    "싱크홀까지는 아니고 도로가 살짝 울퉁불퉁해요",
    "신호등 고장은 아닌데 신호 바뀌는 간격이 좀 길어요",
    "전선이 끊어질 정도는 아니지만 통신선이 엉켜 있어요",
    "작년에 싱크홀 났던 곳 또 문제 없는지 점검해 주세요",
    "가로등이 꺼져서 골목길이 어두워요",
    "맨홀뚜껑이 차 지나갈 때마다 덜컥거려요",
    "빗물받이 위에 흙이 쌓여서 물이 안 빠져요",
    "나무에서 열매가 떨어져서 인도가 지저분해요",
    "겨울되면 언덕길이 얼어서 미끄러지는데 미리 열선 설치해 주세요",
    "놀이터 그네 줄이 끊어져 있어요",
    "하천 징검다리 돌이 몇 개 빠져 있어요",
    "성적이 떨어질까 걱정인데 공사 소음이 심해요",
]


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_are_not_urgent(router: TableRouter, text: str) -> None:
    r = router.route(text)
    assert not r.urgent, r.reason


@pytest.mark.parametrize("text", ["안녕하세요 문의 좀 드릴게요", "이거 좀 해결해 주세요", "ㅁㄴㅇㄹ"])
def test_low_confidence_goes_to_triage_with_reason(router: TableRouter, text: str) -> None:
    r = router.route(text)
    assert (r.team, r.department, r.category) == ("바로처리팀", "시민시장담당관", "분류 보류(바로처리팀 검토)")
    assert not r.urgent
    assert r.confidence < load_table().thresholds["min_confidence"]
    assert "바로처리팀" in r.reason and "신뢰도" in r.reason


def test_split_evidence_is_held_and_names_both_teams(router: TableRouter) -> None:
    r = router.route("맨홀 뚜껑 디자인 공모전")
    assert r.team == "바로처리팀" and "엇갈림" in r.reason


def test_reason_names_words_and_team(router: TableRouter) -> None:
    r = router.route("신호등이 고장나서 계속 빨간불이에요")
    assert r.reason.startswith("'신호등'")
    assert "지능형교통정보팀(교통신호·버스정보)" in r.reason and "신호 고장" in r.reason
    assert r.category == "교통신호 고장(긴급)" and r.department == "스마트도시과"


def test_longer_keyword_wins_over_the_word_inside_it(router: TableRouter) -> None:
    assert router.route("멀쩡한 보도블록 또 교체하는 건 세금낭비예요").team == "예산팀"
    assert router.route("교차로 돌발 CCTV가 고장났어요").team == "지능형교통정보팀"
    assert router.route("골목에 CCTV 설치해 주세요").team == "스마트영상정보팀"


def test_categories_within_a_team(router: TableRouter) -> None:
    assert router.route("부서마다 소관이 아니라고 떠넘겨요").category == "소관 불분명·복합 민원 조정"
    assert router.route("주민참여예산에 사업을 제안하고 싶어요").category == "주민참여예산"


def test_normalisation_spacing_nfd_fullwidth(router: TableRouter) -> None:
    base = router.route("버스정보 안내기가 이상해요")
    assert router.route("버 스 정 보 안내기가 이상해요").team == base.team == "지능형교통정보팀"
    assert router.route(unicodedata.normalize("NFD", "버스정보 안내기가 이상해요")).team == base.team
    assert router.route("놀이터 ＣＣＴＶ가 안 돌아가요").team == "스마트영상정보팀"


def test_latin_keywords_need_word_edges(router: TableRouter) -> None:
    assert router.route("email 주소를 바꾸고 싶어요").team != "시전략팀"


def test_input_hygiene(router: TableRouter) -> None:
    for bad in ("", "   ", "\n\t", "!!!"):
        with pytest.raises(ValueError):
            router.route(bad)
    long = "도로에 구멍이 패였어요. " + "정말 불편합니다. " * 2000
    r = router.route(long)
    assert r.team == "현장기동팀" and r.urgent
    tail_only = "가" * 2500 + " 신호등 고장"
    assert router.route(tail_only).team == "바로처리팀"  # the part after 2,000 characters is not read


def test_route_as_json_has_exactly_the_contract_keys(router: TableRouter) -> None:
    out = router.route("예산 낭비 사례를 신고하고 싶어요").as_json()
    assert set(out) == CONTRACT_KEYS
    assert isinstance(out["confidence"], float) and isinstance(out["urgent"], bool)
    held = router.hold("테스트")
    assert isinstance(held, Route) and held.team == "바로처리팀" and held.confidence == 0.0


def test_every_example_in_the_table_routes_to_its_team(router: TableRouter) -> None:
    wrong = [(t.name, ex, router.route(ex).team) for t in router.table.teams.values() for ex in t.examples
             if router.route(ex).team != t.name and not router.route(ex).urgent]
    assert not wrong


def test_table_covers_the_org_chart() -> None:
    table = load_table()
    for team in ("현장기동팀", "바로처리팀", "진심소통팀", "민원콜센터팀", "지능형교통정보팀", "스마트영상정보팀",
                 "납세자보호관", "규제개혁팀", "인구정책팀", "예산팀", "빅데이터팀", "정책팀"):
        assert team in table.teams and table.teams[team].description
    assert table.teams["지능형교통정보팀"].department == "스마트도시과"
    assert table.teams["현장기동팀"].department == "시민시장담당관"
    assert default_table_path().name == "routing.yaml"


EXTRA = """
thresholds: {min_confidence: 0.3}
triage: {team: 민원팀, category: 검토 대기}
urgent_default: {team: 도로팀}
departments:
  시범담당관:
    teams:
      민원팀:
        description: 민원 접수
        category: 일반 민원
        keywords: {민원: 1}
        examples: [담당자와 통화하고 싶어요]
  도로과:
    office: 건설국
    teams:
      도로팀:
        description: 도로 보수
        category: 도로 보수
        keywords: {포장: 3, 도로: 2}
        examples: [도로 포장이 갈라졌어요]
  환경과:
    teams:
      청소행정팀:
        description: 무단투기 단속, 대형폐기물
        category: 청소·폐기물
        keywords: {무단투기: 5, 대형폐기물: 5, 쓰레기: 3}
        examples: [집 앞에 쓰레기를 몰래 버려요]
hazards:
  - name: 도로 꺼짐
    terms: [싱크홀]
negations: [은 아니]
"""


def test_an_edited_table_routes_to_a_new_department(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(EXTRA, encoding="utf-8")
    r = TableRouter(None, path)
    got = r.route("골목에 쓰레기 무단투기가 심해요")
    assert (got.team, got.department, got.category) == ("청소행정팀", "환경과", "청소·폐기물")
    assert "'무단투기'" in got.reason
    urgent = r.route("도로에 싱크홀이 생겼어요")
    assert urgent.urgent and urgent.team == "도로팀"
    assert not r.route("싱크홀은 아니고 도로 포장이 벗겨졌어요").urgent
    held = r.route("안녕하세요")
    assert (held.team, held.category) == ("민원팀", "검토 대기")


def test_the_bundled_table_plus_a_new_department(tmp_path: Path) -> None:
    """What a city does: append its own department to the shipped file."""
    extra = """
  환경과:
    teams:
      청소행정팀:
        description: 무단투기 단속
        category: 청소·폐기물
        keywords: {대형폐기물: 6, 폐가구: 6}
"""
    text = default_table_path().read_text(encoding="utf-8")
    head, sep, rest = text.partition("\nhazards:")
    path = tmp_path / "routing.yaml"
    path.write_text(head.rstrip("\n") + "\n" + extra + sep + rest, encoding="utf-8")
    r = TableRouter(None, path)
    assert r.route("대형폐기물 수거 신청은 어떻게 하나요").team == "청소행정팀"
    assert r.route("신호등이 고장났어요").team == "지능형교통정보팀"


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("departments: [1, 2]", "departments"),
    ("departments:\n  과:\n    teams:\n      팀:\n        keywords: {'': 1}\n", "keyword"),
    ("departments:\n  과:\n    teams:\n      팀:\n        patterns: {'(': 1}\n", "팀"),
    ("departments:\n  과:\n    teams:\n      바로처리팀: {}\n      현장기동팀: {}\n"
     "hazards:\n  - {name: x, terms: [a], team: 없는팀}\n", "없는팀"),
    ("departments:\n  과:\n    teams:\n      바로처리팀: {}\n", "현장기동팀"),
    ("departments: {a: {teams: {t: {}}}}\nhazards: [{name: x, objects: [a]}]\n", "together"),
    (": : :", "cannot read"),
    ("departments:\n  과:\n    teams:\n      팀: 설명만\n", "팀"),
    ("departments:\n  과: [a]\n", "teams"),
    ("thresholds: {min_confidence: 높음}\ndepartments:\n  과:\n    teams:\n      바로처리팀: {}\n", "numbers"),
])
def test_bad_tables_are_reported_with_the_place(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(RoutingTableError, match=message):
        load_table(path)
    with pytest.raises(RoutingTableError):
        load_table(tmp_path / "missing.yaml")


def test_example_similarity_with_an_embedder(tmp_path: Path) -> None:
    r = TableRouter(HashingEmbedder(256), cache_dir=tmp_path)
    assert r.route("신호등이 고장나서 계속 빨간불이에요").team == "지능형교통정보팀"
    assert r.route("놀이터 그네 줄이 끊어져 있어요").team in ("현장기동팀", "바로처리팀")
    cached = list(tmp_path.glob("routing-examples-*.npy"))
    assert len(cached) == 1
    again = TableRouter(HashingEmbedder(256), cache_dir=tmp_path)  # loads the cache
    assert again.route("청년 이사비 지원 대상인지 알고 싶어요").team == "인구정책팀"
    # an example-only team (no keyword for these words) can win on similarity alone
    path = tmp_path / "t.yaml"
    path.write_text(EXTRA.replace("examples: [집 앞에 쓰레기를 몰래 버려요]",
                                  "examples: [밤마다 누가 몰래 내다 버리고 가요]"), encoding="utf-8")
    sim = TableRouter(HashingEmbedder(256), path).route("밤마다 누가 몰래 내다 버리고 가요")
    assert sim.team == "청소행정팀" and "비슷한 사례" in sim.reason


def test_heldout_set_rules_only(router: TableRouter) -> None:
    """Regression guard on the hand-written held-out set (eval/data/routing_heldout.jsonl)."""
    items = [json.loads(line) for line in (ROOT / "eval/data/routing_heldout.jsonl").read_text("utf-8").splitlines()
             if line.strip()]
    summary = score(items, [router.route(it["text"]).as_json() for it in items])
    assert summary["accuracy"] >= 95.0, summary["failures"]
    assert summary["urgent"]["recall"] == 100.0, summary["failures"]


def test_score_counts_hits_urgency_and_confusion() -> None:
    items = [{"id": "a", "text": "x", "team_any": ["A", "B"], "urgent": True},
             {"id": "b", "text": "y", "team_any": ["C"], "urgent": False}]
    routes = [{"team": "B", "urgent": True}, {"team": "A", "urgent": True}]
    s = score(items, routes)
    assert (s["correct"], s["accuracy"]) == (1, 50.0)
    assert s["urgent"] == {"n": 1, "recall": 100.0, "precision": 50.0, "false_alarms": 1}
    assert s["confusion"] == {"A": {"A": 1}, "C": {"A": 1}}
    assert [f["id"] for f in s["failures"]] == ["b"]


# --- the CLI contract ---------------------------------------------------------------------------

def _cli(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(tmp_path / "data"), "ASSISTANT_KNOWLEDGE__EMBEDDER": "hashing",
           "ASSISTANT_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "assistant", "route", *args], input=stdin, capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120, check=False)


def test_cli_single(tmp_path: Path) -> None:
    p = _cli(tmp_path, "신호등이 고장나서 계속 빨간불이에요.", "--json")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert CONTRACT_KEYS <= set(out) <= CONTRACT_KEYS | {"latency_ms"}
    assert (out["team"], out["urgent"]) == ("지능형교통정보팀", True)
    assert not (tmp_path / "data" / "index").exists()  # no knowledge index is built or needed


def test_cli_batch_keeps_order_and_survives_bad_lines(tmp_path: Path) -> None:
    stdin = "\n".join(["전봇대 전선이 끊어져서 길에 늘어져 있어요", "", "세무조사 연기 상담받고 싶어요", "   ",
                       "안녕하세요"]) + "\n"
    p = _cli(tmp_path, "--json", "-", stdin=stdin)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    rows = [json.loads(line) for line in p.stdout.strip().splitlines()]
    assert [r["team"] for r in rows] == ["현장기동팀", "바로처리팀", "납세자보호관", "바로처리팀", "바로처리팀"]
    assert rows[0]["urgent"] is True
    for bad in (rows[1], rows[3]):
        assert bad["confidence"] == 0 and bad["error"] and set(bad) >= CONTRACT_KEYS
    assert "error" not in rows[4]  # a vague complaint is held for triage, it is not an error


def test_cli_plain_text(tmp_path: Path) -> None:
    p = _cli(tmp_path, "예산 낭비 사례를 신고하고 싶어요")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("예산팀 (예산과)")
