"""Voice: audio codecs, VAD, STT and TTS. A leaf package."""
