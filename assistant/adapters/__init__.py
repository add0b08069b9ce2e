"""City-system adapters: bus information (GBIS, TAGO), CCTV sites (전국CCTV표준데이터), budget execution
(지방재정365) — one protocol per system, an HTTP implementation per public API, an offline sample each.
Built by ``assistant.factory.live_tools_from``; used by ``assistant.dialogue.tools``."""
