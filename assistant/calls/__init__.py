"""Live calls for the agent console: fan-out hub, call registry, transcription, assist, transcripts."""
