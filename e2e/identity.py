"""Identity for the authorization tests: a real OpenID provider, a key set the test controls,
and tokens made by an independent JOSE library (PyJWT over `cryptography`), never by ours.

- `running_provider` starts e2e/oidc/server.mjs (oidc-provider, an OpenID-certified
  implementation) on 127.0.0.1 and stops it; its tokens come through the client credentials
  grant, fetched with urllib as any client would.
- `KeySetServer` serves a JWKS on 127.0.0.1 whose keys the test holds, so it can sign the
  tokens a provider would never issue (expired, wrong key, unknown `kid`, `alg` tricks) and
  rotate the set; it counts the fetches.

Every token handed out is recorded in `ISSUED`: the suite then proves none of them reached
the gateway's log.
"""

import base64
import json
import queue
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, HMACAlgorithm, OKPAlgorithm, RSAAlgorithm

from local_http import LocalHttpServer, QuietHandler

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
ISSUED = []


def issued(token):
    ISSUED.append(token)
    return token


# ---------------------------------------------------------------------------------------
# The OpenID provider.


class OidcProvider:
    """A running e2e/oidc/server.mjs: its issuer, audience and clients (one per user)."""

    def __init__(self, proc, ready, log_path):
        self.proc = proc
        self.log_path = log_path
        self.issuer = ready["issuer"]
        self.audience = ready["audience"]
        self.clients = ready["clients"]
        self._jwks_count_url = ready["jwksCountUrl"]
        self.discovery = get_json(f"{self.issuer}/.well-known/openid-configuration")

    def token(self, client):
        """An access token for `client` by the client credentials grant (RFC 6749 4.4)."""
        secret = self.clients[client]["secret"]
        basic = base64.b64encode(f"{client}:{secret}".encode()).decode()
        request = urllib.request.Request(
            self.discovery["token_endpoint"], data=b"grant_type=client_credentials", method="POST",
            headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.load(response)
        assert answer["token_type"].lower() == "bearer", answer
        return issued(answer["access_token"])

    def jwks(self):
        return get_json(self.discovery["jwks_uri"])

    def jwks_count(self):
        """How many JWKS requests the provider has served."""
        return get_json(self._jwks_count_url)["count"]

    def verify(self, token):
        """The token's claims, checked by PyJWT against the provider's published keys."""
        header = jwt.get_unverified_header(token)
        key = next(k for k in self.jwks()["keys"] if k["kid"] == header["kid"])
        return jwt.decode(token, jwt.PyJWK(key), algorithms=[key["alg"]],
                          audience=self.audience, issuer=self.issuer)


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def read_ready_line(proc, timeout):
    """The first stdout line of `proc`, or None when it says nothing within `timeout`."""
    lines = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout) or None
    except queue.Empty:
        return None


@contextmanager
def running_provider(log_dir, short_lifetime):
    """Starts the provider on a free port; stops it however the block ends."""
    if not shutil.which("node"):
        pytest.fail("node is not installed (scripts/e2e.sh installs it)")
    if not (OIDC_DIR / "node_modules" / "oidc-provider").exists():
        pytest.fail("oidc-provider is not installed: run `npm ci` in e2e/oidc (scripts/e2e.sh does)")
    log_path = Path(log_dir) / "oidc-provider.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            ["node", str(OIDC_DIR / "server.mjs"), "--port", "0", "--short-lifetime", str(short_lifetime)],
            stdout=subprocess.PIPE, stderr=log, text=True, cwd=OIDC_DIR)
        try:
            line = read_ready_line(proc, timeout=30)
            if line is None:
                pytest.fail(f"the OpenID provider did not start:\n{log_path.read_text()}")
            yield OidcProvider(proc, json.loads(line), log_path)
        finally:
            stop_process(proc)


def stop_process(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------------------
# Keys the test holds, and the tokens it signs with them.


class SigningKey:
    """A private key with its `kid` and algorithm; `public_jwk` is what a JWKS publishes."""

    def __init__(self, alg, kid=None):
        self.alg = alg
        self.kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:12]}"
        self.private = new_private_key(alg)

    def public_jwk(self):
        public = self.private.public_key()
        jwk = jwk_codec(self.alg).to_jwk(public, as_dict=True)
        jwk.pop("key_ops", None)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public_pem(self):
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, claims, kid=None, **headers):
        """A token over `claims` signed with this key; `kid` (default: this key's) and any extra
        header fields as given."""
        header = {"kid": kid or self.kid, **headers}
        return issued(jwt.encode(claims, self.private, algorithm=self.alg, headers=header))


def new_private_key(alg):
    if alg.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg in ("ES256", "ES384"):
        return ec.generate_private_key(ec.SECP256R1() if alg == "ES256" else ec.SECP384R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"no key type for {alg}")


def jwk_codec(alg):
    if alg.startswith(("RS", "PS")):
        return RSAAlgorithm
    return OKPAlgorithm if alg == "EdDSA" else ECAlgorithm


def claims_for(issuer, audience, sub, lifetime=3600, **extra):
    now = int(time.time())
    return {"iss": issuer, "aud": audience, "sub": sub, "iat": now, "exp": now + lifetime, **extra}


def unsigned(claims, kid):
    """`alg: none`, no signature."""
    return issued(jwt.encode(claims, None, algorithm="none", headers={"kid": kid}))


class PublicKeyAsHmacSecret(HMACAlgorithm):
    """HS256 keyed with whatever bytes it is given. PyJWT refuses a PEM public key as an HMAC
    secret; the attack this models uses exactly that."""

    def prepare_key(self, key):
        return key


def hs256_with_public_key(key, claims):
    """The RS/HS confusion: HS256 over the claims, keyed with `key`'s public PEM, under its kid."""
    jws = jwt.PyJWS(algorithms=["none"])
    jws.register_algorithm("HS256", PublicKeyAsHmacSecret(HMACAlgorithm.SHA256))
    payload = json.dumps(claims).encode()
    return issued(jws.encode(payload, key.public_pem(), algorithm="HS256", headers={"kid": key.kid, "typ": "JWT"}))


# ---------------------------------------------------------------------------------------
# A key set served on 127.0.0.1.


class KeySetServer(LocalHttpServer):
    """Serves {"keys": [...]} of the keys it is given at /jwks.json and counts the fetches.
    Use as `with KeySetServer(keys) as server:`."""

    PATH = "/jwks.json"

    def __init__(self, keys):
        self.keys = list(keys)
        self.fetches = 0
        self._lock = threading.Lock()
        super().__init__(self._handler())
        self.url = self.origin + self.PATH

    def publish(self, keys):
        """From now on the set holds `keys` (a rotation)."""
        with self._lock:
            self.keys = list(keys)

    def _document(self):
        with self._lock:
            self.fetches += 1
            return {"keys": [k.public_jwk() for k in self.keys]}

    def _handler(self):
        owner = self

        class Handler(QuietHandler):
            def do_GET(self):
                if self.path == owner.PATH:
                    self.send_json(200, owner._document())
                else:
                    self.send_json(404, {"message": f"no {self.path} here"})

        return Handler
