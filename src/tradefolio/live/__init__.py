"""live area (see ARCHITECTURE.md)."""
