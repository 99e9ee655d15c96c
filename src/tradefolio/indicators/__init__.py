"""indicators area (see ARCHITECTURE.md)."""
