"""The application's subscribe hook, as the gateway's `--subscribe-authorizer` URL asks it:
an HTTP server on 127.0.0.1 whose answer for each entity the test chooses, and which records
every question it was asked.

Protocol (the gateway's side is under test): POST of
{"userId", "claims", "connectionId", "entityId"}; answer 200 with
{"allow": bool, "cacheSeconds": n, "message": "..."}. An entity the test said nothing about
is denied.
"""

import json
import threading
import time

from local_http import LocalHttpServer, QuietHandler

DEFAULT_DENIAL = "the application's hook knows no such entity"


class SubscribeHook(LocalHttpServer):
    """Use as `with SubscribeHook() as hook:`; `hook.url` is the `--subscribe-authorizer`."""

    PATH = "/subscribe-decision"

    def __init__(self):
        self._answers = {}
        self._asked = []
        self._lock = threading.Lock()
        super().__init__(self._handler())
        self.url = self.origin + self.PATH

    # What the hook answers, per entity.

    def allow(self, entity, cache_seconds=None):
        self._answer(entity, body=with_cache({"allow": True}, cache_seconds))

    def deny(self, entity, message, cache_seconds=None):
        self._answer(entity, body=with_cache({"allow": False, "message": message}, cache_seconds))

    def stall(self, entity, seconds):
        """Answers allow, but only after `seconds`."""
        self._answer(entity, body={"allow": True}, delay=seconds)

    def fail(self, entity, status=500):
        """Answers `status` with an allow body the gateway must not believe."""
        self._answer(entity, body={"allow": True}, status=status)

    def _answer(self, entity, body, status=200, delay=0.0):
        with self._lock:
            self._answers[entity] = (status, body, delay)

    # What the hook was asked.

    def asked(self, entity):
        """The request bodies received about `entity`, oldest first."""
        with self._lock:
            return [q for q in self._asked if q.get("entityId") == entity]

    def _decide(self, question):
        with self._lock:
            self._asked.append(question)
            return self._answers.get(question.get("entityId"), (200, {"allow": False, "message": DEFAULT_DENIAL}, 0.0))

    def _handler(self):
        hook = self

        class Handler(QuietHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    question = json.loads(self.rfile.read(length))
                except ValueError:
                    question = {"unparsed": True}
                status, body, delay = hook._decide(question if self.path == hook.PATH else {"wrongPath": self.path})
                time.sleep(delay)
                self.send_json(status, body)

        return Handler


def with_cache(body, cache_seconds):
    return body if cache_seconds is None else {**body, "cacheSeconds": cache_seconds}
