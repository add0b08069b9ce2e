"""Dialogue: intents, multi-turn session state, slot-filling forms and the engine that answers a turn."""
