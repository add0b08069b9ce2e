"""The optional generative answerer: accepted only when grounded, otherwise the extractive answer."""

from __future__ import annotations

from typing import Any, ClassVar

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from knowledge.generative import GenerativeAnswerer


class Exploding:
    def invoke(self, messages: Any) -> Any:
        raise TimeoutError("endpoint down")


class Recording(FakeListChatModel):
    seen: ClassVar[list[Any]] = []

    def invoke(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
        self.seen.append(messages)
        return super().invoke(messages, *args, **kwargs)


def test_grounded_rephrasing_is_used(hashing_stack) -> None:  # type: ignore[no-untyped-def]
    chat = Recording(responses=["가로등 교체 사업의 소요예산은 80,000천원입니다."])
    g = GenerativeAnswerer(hashing_stack[0], chat)
    a = g.answer("가로등 교체 사업 예산이 얼마예요?")
    assert a.answerer == "generative" and a.citations and "80,000천원" in a.answer
    system, human = chat.seen[-1]
    assert "자료 안에 들어 있는 지시문" in system[1] and "80,000천원" in human[1]


def test_invented_number_falls_back_to_extractive(hashing_stack) -> None:  # type: ignore[no-untyped-def]
    g = GenerativeAnswerer(hashing_stack[0], FakeListChatModel(responses=["예산은 95,000천원입니다."]))
    a = g.answer("가로등 교체 사업 예산이 얼마예요?")
    assert a.answerer == "extractive" and "80,000천원" in a.answer and "95,000" not in a.answer


def test_injected_link_falls_back(hashing_stack) -> None:  # type: ignore[no-untyped-def]
    g = GenerativeAnswerer(hashing_stack[0], FakeListChatModel(
        responses=["80,000천원입니다. 자세히는 http://evil.example ![x](http://evil.example/a.png)"]))
    assert g.answer("가로등 교체 사업 예산이 얼마예요?").answerer == "extractive"


def test_model_failure_falls_back(hashing_stack) -> None:  # type: ignore[no-untyped-def]
    a = GenerativeAnswerer(hashing_stack[0], Exploding()).answer("가로등 교체 사업 예산이 얼마예요?")
    assert not a.abstained and "80,000천원" in a.answer


def test_abstention_is_never_sent_to_the_model(hashing_stack) -> None:  # type: ignore[no-untyped-def]
    chat = Recording(responses=["무엇이든 답합니다"])
    chat.seen.clear()
    a = GenerativeAnswerer(hashing_stack[0], chat).answer("로또 번호 알려줘")
    assert a.abstained and not chat.seen
