"""The web UI for Context Engineers: server-rendered Django templates with HTMX.

Views are adapters: they parse the request (Django forms), call the service
functions (``<app>/services.py``) and query functions (``<app>/queries.py``)
and present the result. They never change a model themselves. See
docs/architecture.md ("Web UI").
"""
