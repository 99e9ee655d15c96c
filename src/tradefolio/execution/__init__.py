"""execution area (see ARCHITECTURE.md)."""
