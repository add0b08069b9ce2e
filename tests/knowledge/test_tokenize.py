import pytest

from knowledge.tokenize import KiwiTokenizer, lexicon, plan_year, set_plan_year


@pytest.fixture(scope="module")
def tok() -> KiwiTokenizer:
    return KiwiTokenizer()


def test_numbers_lose_separators_so_spellings_meet(tok: KiwiTokenizer) -> None:
    assert "1062" in tok.tokens("1,062개소") and "1062" in tok.tokens("1062곳")
    assert "개소" in tok.expand(tok.query_tokens("1062곳"))


def test_compounds_are_joined_whatever_kiwi_splits(tok: KiwiTokenizer) -> None:
    assert "보이스봇" in tok.tokens("보이스봇은 어떤 민원을 안내하나요?")
    assert "국비" in tok.tokens("국비: 7,223")
    assert {"민간", "데이터", "구매", "민간데이터구매"} <= set(tok.tokens("민간데이터구매 105,000천원"))


def test_query_terms_drop_question_words_verbs_and_lone_digits(tok: KiwiTokenizer) -> None:
    terms = tok.query_terms("모의훈련은 1년에 몇 번 해요?")
    flat = {p for t in terms for p in t}
    assert "몇" not in flat and "하" not in flat and "1" not in flat
    assert any("훈련" in p for p in flat)


def test_lexicon_expansion_and_plan_year(tok: KiwiTokenizer) -> None:
    old = plan_year()
    try:
        set_plan_year(2026)
        assert {"전년도", "2025"} <= set(tok.expand(["작년"]))
        assert "2026" in tok.expand(["올해"])
        set_plan_year(2030)
        assert "2029" in tok.expand(["작년"])
    finally:
        set_plan_year(old)
    expand, stop = lexicon()
    assert "뭐" in stop and "곳" in expand


def test_thread_safety(tok: KiwiTokenizer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(tok.tokens, ["스마트 교차로 예산"] * 32))
    assert all(r == results[0] for r in results)
