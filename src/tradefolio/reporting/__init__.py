"""reporting area (see ARCHITECTURE.md)."""
