"""Views of the web UI, one module per area. Each view parses, calls a service or query, and presents."""
