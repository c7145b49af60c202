"""Make signed bundles for client tests, exactly as a FORGE would."""

from anvil_client import bundle as bundles

PROJECT = "6f1c2b8e-3d4a-4b5c-9d6e-7f8091a2b3c4"


def make_bundle(key, sequence=1, sets=None, project=PROJECT):
    """``sets``: {slug: (version, {prompt_slug: template or (template, parameters)})}."""
    sets = sets if sets is not None else {"emails": ("1.0.0", {"welcome": ("Hello {{ name }}!", [{"name": "name"}])})}
    prompt_sets, prompts = [], {}
    for slug, (version, items) in sets.items():
        prompt_sets.append({"slug": slug, "version": version, "version_id": f"{slug}-{version}"})
        for pslug, spec in items.items():
            template, params = spec if isinstance(spec, tuple) else (spec, [])
            prompts[f"{slug}.{pslug}"] = {"template": template, "parameters": params, "metadata": {}}
    body = bundles.make_body(project={"id": project, "slug": "support", "name": "Support"}, sequence=sequence,
                             created_at="2026-11-22T00:00:00Z", prompt_sets=prompt_sets, prompts=prompts,
                             forge_key=bundles.public_key_text(key))
    return bundles.seal(body, key)


def start_forge(answer):
    """A stand-in FORGE on loopback, serving ``answer(request)`` for every request: a status, or
    ``(status, body bytes)`` (the request handler has ``command``, ``path``, ``headers`` and the read
    ``body``). Returns the running server; its URL is ``forge_url(server)``."""
    import http.server
    import threading

    class Forge(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            result = answer(self)
            status, payload = result if isinstance(result, tuple) else (result, b"{}")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def forge_url(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"

