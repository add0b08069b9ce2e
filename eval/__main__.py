"""``python -m eval qa --dataset F.jsonl [--json]`` (see eval.qa); also korquad, intents, routing, stt,
injection."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval")
    sub = p.add_subparsers(dest="command", required=True)
    q = sub.add_parser("qa", help="grounded Q&A: accuracy, abstention, recall@k, latency")
    q.add_argument("--dataset", required=True)
    q.add_argument("--json", action="store_true", help="print one JSON summary")
    q.add_argument("--details", action="store_true", help="print every item")
    k = sub.add_parser("korquad", help="general Korean retrieval hit@1/hit@5 on KorQuAD 1.0 dev")
    k.add_argument("--dataset", default="../shared/dev-eval/external/KorQuAD_v1.0_dev.json")
    k.add_argument("--limit", type=int, default=0, help="use only the first N questions")
    k.add_argument("--json", action="store_true")
    it = sub.add_parser("intents", help="intent classification accuracy and confusion")
    it.add_argument("--dataset", default="eval/data/intents.jsonl")
    it.add_argument("--json", action="store_true")
    ro = sub.add_parser("routing", help="complaint routing: accuracy per team, urgent recall, confusion")
    ro.add_argument("--dataset", required=True)
    ro.add_argument("--json", action="store_true")
    st = sub.add_parser("stt", help="speech-to-text: CER (spaces removed) and real-time factor")
    st.add_argument("--manifest", required=True, help='JSONL of {"audio": path, "text": reference}')
    st.add_argument("--json", action="store_true")
    inj = sub.add_parser("injection", help="prompt-injection / jailbreak probes: engine and /api/chat pass rates")
    inj.add_argument("--probes", default=None, help="probe JSONL (default eval/data/injection_probes.jsonl)")
    inj.add_argument("--embedder", default=None, help="override ASSISTANT_KNOWLEDGE__EMBEDDER (e.g. hashing)")
    inj.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.command == "injection":
        from eval.injection import run as run_injection

        return run_injection(args.probes, as_json=args.json, embedder=args.embedder)
    if args.command == "routing":
        from eval.routing import run as run_routing

        return run_routing(args.dataset, as_json=args.json)
    if args.command == "stt":
        from eval.stt import run as run_stt

        return run_stt(args.manifest, as_json=args.json)
    if args.command == "intents":
        from eval.intents import run as run_intents

        return run_intents(args.dataset, as_json=args.json)
    if args.command == "qa":
        from eval.qa import run

        return run(args.dataset, as_json=args.json, details=args.details)
    if args.command == "korquad":
        from eval.korquad import run as run_korquad

        return run_korquad(args.dataset, limit=args.limit, as_json=args.json)
    return 2


if __name__ == "__main__":
    sys.exit(main())
