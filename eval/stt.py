"""STT evaluation on a manifest of ``{"audio": path, "text": reference}`` lines (paths relative to the
manifest's folder): character error rate with spaces removed, per file and overall (total edits /
total reference characters), and real-time factor (processing time / audio duration), with the STT
the service uses (``assistant.factory.stt_from``)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

_IGNORED = re.compile(r"[\s.,!?~·…\"'“”‘’]+")


def normalize(text: str) -> str:
    """Spaces and sentence punctuation removed (Korean spacing varies; Whisper adds full stops)."""
    return _IGNORED.sub("", text)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings (characters)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate, spaces and punctuation removed; 0 for two empty strings."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


def run(manifest: str, as_json: bool = False) -> int:
    from assistant.factory import stt_from
    from assistant.settings import get_settings
    from voice.audio import read_wav
    from voice.errors import VoiceError

    path = Path(manifest)
    items = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    stt = stt_from(get_settings())
    rows: list[dict[str, Any]] = []
    edits = ref_chars = 0
    audio_s = proc_s = 0.0
    failed = 0
    for it in items:
        audio_path = path.parent / it["audio"]
        ref = normalize(it["text"])
        t0 = time.perf_counter()
        try:
            tr = stt.transcribe(read_wav(audio_path))
        except VoiceError as exc:
            failed += 1
            edits += len(ref)
            ref_chars += len(ref)
            rows.append({"audio": it["audio"], "error": f"{type(exc).__name__}: {exc}", "cer": 1.0})
            continue
        wall = time.perf_counter() - t0
        e = edit_distance(ref, normalize(tr.text))
        edits += e
        ref_chars += len(ref)
        audio_s += tr.duration_s
        proc_s += tr.processing_s
        rows.append({"audio": it["audio"], "reference": it["text"], "hypothesis": tr.text,
                     "cer": round(e / max(1, len(ref)), 4), "duration_s": round(tr.duration_s, 3),
                     "processing_s": round(tr.processing_s, 3), "rtf": round(tr.processing_s / max(tr.duration_s, 1e-9), 3),
                     "wall_s": round(wall, 3)})
    total_cer = edits / max(1, ref_chars)
    rtf = proc_s / audio_s if audio_s else 0.0
    summary = {"files": len(items), "failed": failed, "cer": round(total_cer, 4), "rtf": round(rtf, 3),
               "audio_s": round(audio_s, 2), "processing_s": round(proc_s, 2),
               "model": getattr(stt, "model_id", type(stt).__name__)}
    if as_json:
        print(json.dumps({**summary, "items": rows}, ensure_ascii=False))
        return 0 if not failed else 1
    for r in rows:
        if "error" in r:
            print(f"FAIL {r['audio']}: {r['error']}")
        else:
            print(f"{r['cer'] * 100:5.1f}%  rtf {r['rtf']:.2f}  {r['audio']}: {r['hypothesis']!r} "
                  f"(ref {r['reference']!r})")
    print(f"stt: CER {total_cer * 100:.1f}% over {len(items)} files, RTF {rtf:.2f}")
    return 0 if not failed else 1
