"""Who may read what, end to end, against the gateway binary: tokens from a real OpenID provider
(oidc-provider) and from an independent JOSE library (PyJWT), the subscribe policy and the
application's hook, the cap on subscriptions, a connection's end at its token's end, and no
token in any log line.

Two gateways run for this module:
- `idp`: trusts the provider by its issuer URL (keys through discovery), policy POLICY, the
  hook served by `subscribe_hook`, at most CAP subscriptions per connection, no leeway.
- `keys_gw`: trusts a JWKS URL whose keys this module holds (`key_set`), so it can sign what a
  provider never would; HS256 switched off; the default policy.
"""

import asyncio
import json
import re
import socket
import time
import uuid

import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import failed_start, running_gateway, token_for
from identity import ISSUED, KeySetServer, SigningKey, claims_for, hs256_with_public_key, issued, unsigned
from subscribe_hook import DEFAULT_DENIAL
from test_gateway import entries_file, recv_json, send_json, silent, unique

POLICY = "user/{sub}/*,org/{org}/*,project/{projects}/*"
CAP = 3
KEYS_AUDIENCE = "wspush-keys-e2e"
ALGORITHMS = ["RS256", "PS256", "ES256", "ES384", "EdDSA"]
# Long enough for the fan-out of the same event to have reached every connection it would.
QUIET = 1.5


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def idp(oidc_provider, subscribe_hook, tmp_path_factory):
    before = oidc_provider.jwks_count()
    args = ["--jwt-issuer", oidc_provider.issuer, "--jwt-audience", oidc_provider.audience,
            "--subscribe-policy", POLICY, "--subscribe-authorizer", subscribe_hook.url,
            "--max-subscriptions-per-connection", str(CAP), "--jwt-leeway-secs", "0"]
    with running_gateway(tmp_path_factory.mktemp("idp-gateway"), args) as gw:
        gw.jwks_fetches_at_start = oidc_provider.jwks_count() - before
        yield gw


@pytest.fixture(scope="module")
def trusted_keys():
    return {alg: SigningKey(alg) for alg in ALGORITHMS}


@pytest.fixture(scope="module")
def key_set(trusted_keys):
    with KeySetServer(trusted_keys.values()) as server:
        yield server


@pytest.fixture(scope="module")
def attacker_set():
    """A key set the gateway was never told about: a `jku`/`x5u` header points here."""
    with KeySetServer([SigningKey("RS256")]) as server:
        yield server


@pytest.fixture(scope="module")
def keys_gw(key_set, tmp_path_factory):
    args = ["--jwks-url", key_set.url, "--jwt-issuer", key_set.origin, "--jwt-audience", KEYS_AUDIENCE,
            "--jwt-leeway-secs", "0", "--jwt-hs256-enabled", "false"]
    with running_gateway(tmp_path_factory.mktemp("keys-gateway"), args) as gw:
        gw.jwks_fetches_at_start = key_set.fetches
        yield gw


# ------------------------------------------------------------------------------ helpers


async def ping(ws, frames):
    await send_json(ws, frames, {"action": "ping"})
    assert await recv_json(ws, frames) == {"type": "Pong"}


async def ask(ws, frames, action, entity):
    """Sends a subscribe or unsubscribe; returns the reply."""
    await send_json(ws, frames, {"action": action, "entityId": entity})
    return await recv_json(ws, frames)


async def subscribed(ws, frames, entity):
    reply = await ask(ws, frames, "subscribe", entity)
    assert (reply["type"], reply["entityId"]) == ("Subscribed", entity), reply
    assert isinstance(reply["serial"], int) and "streamId" in reply, reply


async def refused(ws, frames, entity, code="Forbidden"):
    """Subscribes and expects the error `code` for `entity`; returns its message."""
    reply = await ask(ws, frames, "subscribe", entity)
    assert (reply["type"], reply.get("code"), reply.get("entityId")) == ("Error", code, entity), reply
    assert reply.get("message"), reply
    return reply["message"]


async def publish(gateway, tmp_path, entity, message):
    """Publishes an Entity Updated with the aws CLI; returns its event id."""
    entries = entries_file(tmp_path, "Entity Updated", {"entityId": entity, "message": message})
    answer = await asyncio.to_thread(gateway.put_events, entries)
    assert answer["FailedEntryCount"] == 0, answer
    return answer["Entries"][0]["EventId"]


async def pushed(ws, frames, event_id):
    push = await recv_json(ws, frames)
    assert (push["type"], push["eventId"]) == ("Entity Updated", event_id), push
    return push


async def status_of(url, subprotocols=None):
    """The HTTP status the WebSocket upgrade is answered with (101 when it opens)."""
    try:
        async with connect(url, subprotocols=subprotocols, open_timeout=30):
            return 101
    except InvalidStatus as refusal:
        return refusal.response.status_code


async def statuses(gateway, token):
    """The upgrade's status with `token` in the query string and as the subprotocol."""
    return (await status_of(f"{gateway.ws}?access_token={token}"),
            await status_of(gateway.ws, subprotocols=["websocket", token]))


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def log_lines(gateway):
    return [ANSI.sub("", line) for line in gateway.log_path.read_text(errors="replace").splitlines()]


def fanout_report(gateway, event_id, timeout=15):
    """The numbers of the gateway's "fan-out complete" log line of `event_id`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for line in log_lines(gateway):
            if "fan-out complete" in line and event_id in line:
                return {k: int(v) for k, v in re.findall(r"\b(\w+)=(\d+)\b", line)}
        time.sleep(0.1)
    raise AssertionError(f"no fan-out report for {event_id} in {gateway.log_path}")


def said_at_start(gateway, pattern, timeout=5):
    """The gateway's banner and log once `pattern` is in them (the banner is read from its
    stdout by a thread), or as they are after `timeout`."""
    deadline = time.time() + timeout
    while True:
        said = "".join(gateway.banner) + gateway.log_path.read_text(errors="replace")
        if re.search(pattern, said) or time.time() > deadline:
            return said
        time.sleep(0.1)


def holders(gateway, entity):
    """Ids of the open connections subscribed to `entity`, as the store has them."""
    return [c["connectionId"] for c in gateway.connections() if entity in c["subscriptions"]]


def connections_of(gateway, user):
    return [c for c in gateway.connections() if c["authorizer"].get("principalId") == user]


# ------------------------------------------------------------------------------ tokens the provider would never issue


def test_every_algorithm_of_the_key_set_connects(keys_gw, key_set, trusted_keys, frames, run):
    assert keys_gw.jwks_fetches_at_start >= 1, "the gateway did not fetch the key set at start"
    said = said_at_start(keys_gw, r"(?i)polic.*\*")
    assert re.search(r"(?i)polic.*\*", said), f"the gateway did not say its default policy at start:\n{said}"

    async def go():
        for alg, key in trusted_keys.items():
            token = key.sign(claims_for(key_set.origin, KEYS_AUDIENCE, f"user-{alg.lower()}"))
            async with connect(f"{keys_gw.ws}?access_token={token}") as ws:
                await ping(ws, frames)
                assert connections_of(keys_gw, f"user-{alg.lower()}"), alg
    run(go())


def edge_case_tokens(trusted, origin, attacker_url):
    """Each token the gateway must refuse, by what is wrong with it."""
    rsa = trusted["RS256"]
    forger = SigningKey("RS256")
    good = claims_for(origin, KEYS_AUDIENCE, "mallory")
    return {
        "expired": rsa.sign(claims_for(origin, KEYS_AUDIENCE, "mallory", lifetime=-60)),
        "not yet valid": rsa.sign({**good, "nbf": int(time.time()) + 600}),
        "wrong audience": rsa.sign({**good, "aud": "another-api"}),
        "wrong issuer": rsa.sign({**good, "iss": "http://127.0.0.1:9"}),
        "signed by another key under a trusted kid": forger.sign(good, kid=rsa.kid),
        "unknown kid": forger.sign(good),
        "HS256 keyed with the RSA public key": hs256_with_public_key(rsa, good),
        "alg none": unsigned(good, rsa.kid),
        "embedded jwk": forger.sign(good, kid=rsa.kid, jwk=forger.public_jwk()),
        "jku to the attacker's keys": forger.sign(good, jku=attacker_url),
        "x5u to the attacker": forger.sign(good, x5u=attacker_url),
        "crit": rsa.sign(good, crit=["urn:wspush:e2e"], **{"urn:wspush:e2e": True}),
        "HS256 with the secret, switched off": issued(token_for("mallory")),
    }


EDGE_CASES = ["expired", "not yet valid", "wrong audience", "wrong issuer", "signed by another key under a trusted kid",
              "unknown kid", "HS256 keyed with the RSA public key", "alg none", "embedded jwk",
              "jku to the attacker's keys", "x5u to the attacker", "crit", "HS256 with the secret, switched off"]


@pytest.fixture(scope="module")
def edge_tokens(trusted_keys, key_set, attacker_set):
    tokens = edge_case_tokens(trusted_keys, key_set.origin, attacker_set.url)
    assert list(tokens) == EDGE_CASES
    return tokens


@pytest.mark.parametrize("case", EDGE_CASES)
def test_edge_case_tokens_are_refused_with_401(keys_gw, edge_tokens, attacker_set, run, case):
    token = edge_tokens[case]
    assert run(statuses(keys_gw, token)) == (401, 401)
    assert attacker_set.fetches == 0, "the gateway fetched keys from a URL the token named"
    assert not connections_of(keys_gw, "mallory")


# ------------------------------------------------------------------------------ the provider's tokens


def test_provider_tokens_connect_in_the_query_string_and_as_subprotocol(idp, oidc_provider, frames, run, tmp_path):
    """Beside them, test tokens minted by CreateTestJwt (HS256, with the provider's issuer and
    audience) still connect; an HS256 token without that issuer does not."""
    assert idp.jwks_fetches_at_start >= 1, "the gateway did not fetch the provider's keys at start"
    alice = oidc_provider.token("alice")
    claims = oidc_provider.verify(alice)
    erin = oidc_provider.token("erin")
    assert jwt.get_unverified_header(erin)["alg"] == "ES256"
    minted, request = tmp_path / "minted.json", tmp_path / "request.json"
    request.write_text(json.dumps({"userId": unique("minted")}))
    idp.aws("lambda", "invoke", "--function-name", "CreateTestJwt", "--payload", f"file://{request}", str(minted))
    test_token = issued(json.loads(minted.read_text())["token"])

    async def go():
        assert await statuses(idp, issued(token_for(unique("no-issuer")))) == (401, 401)
        async with connect(f"{idp.ws}?access_token={alice}") as by_query, \
                connect(idp.ws, subprotocols=["websocket", erin]) as by_subprotocol, \
                connect(f"{idp.ws}?access_token={test_token}") as quick_start:
            assert by_subprotocol.subprotocol == "websocket"
            for ws in (by_query, by_subprotocol, quick_start):
                await ping(ws, frames)
            (context,) = [c["authorizer"] for c in connections_of(idp, "alice")]
            assert context["userId"] == "alice"
            assert context["tokenExpiresAt"] == str(claims["exp"])
            assert json.loads(context["claims"])["org"] == "acme"
            assert connections_of(idp, "erin")
    run(go())


def test_a_storm_of_unknown_kids_fetches_the_keys_at_most_once(idp, oidc_provider, frames, run):
    forger = SigningKey("RS256")
    real_kid = oidc_provider.jwks()["keys"][0]["kid"]
    claims = claims_for(oidc_provider.issuer, oidc_provider.audience, "mallory")
    storm = [forger.sign(claims, kid=f"rotated-{uuid.uuid4().hex}") for _ in range(50)]
    before = oidc_provider.jwks_count()

    async def go():
        answers = await asyncio.gather(*(status_of(f"{idp.ws}?access_token={t}") for t in storm))
        assert answers == [401] * 50
        assert await statuses(idp, forger.sign(claims, kid=real_kid)) == (401, 401)
        async with connect(f"{idp.ws}?access_token={oidc_provider.token('alice')}") as ws:
            await ping(ws, frames)
    run(go())
    fetched = oidc_provider.jwks_count() - before
    assert fetched <= 1, f"50 unknown kids made the gateway fetch the provider's keys {fetched} times"
    assert not connections_of(idp, "mallory")


# ------------------------------------------------------------------------------ the subscribe policy


def test_alice_cannot_read_bobs_entity_and_gets_none_of_its_pushes(idp, oidc_provider, frames, run, tmp_path):
    entity = f"user/bob/{unique('order')}"

    async def go():
        async with connect(f"{idp.ws}?access_token={oidc_provider.token('alice')}") as alice, \
                connect(f"{idp.ws}?access_token={oidc_provider.token('bob')}") as bob:
            await subscribed(bob, frames, entity)
            assert await refused(alice, frames, entity) == DEFAULT_DENIAL
            assert [c["authorizer"]["principalId"] for c in idp.connections() if entity in c["subscriptions"]] == ["bob"]

            event_id = await publish(idp, tmp_path, entity, "for bob only")
            await pushed(bob, frames, event_id)
            assert await silent(alice, QUIET)
            report = fanout_report(idp, event_id)
            assert (report["recipients"], report["delivered"]) == (1, 1), report
    run(go())
    refusals = [line for line in log_lines(idp) if entity in line and "alice" in line]
    assert refusals, "the refusal is not logged with the user and the entity"


def test_alice_reads_her_own_entity_without_asking_the_hook(idp, oidc_provider, subscribe_hook, frames, run, tmp_path):
    entity = f"user/alice/{unique('order')}"

    async def go():
        async with connect(f"{idp.ws}?access_token={oidc_provider.token('alice')}") as alice:
            await subscribed(alice, frames, entity)
            event_id = await publish(idp, tmp_path, entity, "for alice")
            await pushed(alice, frames, event_id)
    run(go())
    assert subscribe_hook.asked(entity) == []


def test_organisation_and_list_claims_open_their_rules(idp, oidc_provider, subscribe_hook, frames, run, tmp_path):
    org_entity = f"org/acme/{unique('board')}"
    project_entity = f"project/gemini/{unique('plan')}"

    async def go():
        async with connect(f"{idp.ws}?access_token={oidc_provider.token('alice')}") as alice, \
                connect(f"{idp.ws}?access_token={oidc_provider.token('bob')}") as bob:
            for entity in (org_entity, project_entity):
                await subscribed(alice, frames, entity)
                await refused(bob, frames, entity)
            event_id = await publish(idp, tmp_path, org_entity, "for acme")
            await pushed(alice, frames, event_id)
            assert await silent(bob, QUIET)
    run(go())
    assert [q["userId"] for q in subscribe_hook.asked(org_entity)] == ["bob"]
    assert [q["userId"] for q in subscribe_hook.asked(project_entity)] == ["bob"]


# ------------------------------------------------------------------------------ the subscribe hook


def test_the_hook_allows_what_the_templates_do_not(idp, oidc_provider, subscribe_hook, frames, run, tmp_path):
    entity = f"doc/{unique('shared')}"
    subscribe_hook.allow(entity)

    async def go():
        async with connect(f"{idp.ws}?access_token={oidc_provider.token('alice')}") as alice:
            await subscribed(alice, frames, entity)
            (question,) = subscribe_hook.asked(entity)
            assert question["connectionId"] in [c["connectionId"] for c in connections_of(idp, "alice")]
            event_id = await publish(idp, tmp_path, entity, "shared with alice")
            await pushed(alice, frames, event_id)
            return question
    question = run(go())
    assert question["userId"] == "alice"
    assert question["entityId"] == entity
    assert (question["claims"]["sub"], question["claims"]["org"]) == ("alice", "acme")


def test_the_hooks_denial_reaches_the_client_with_its_message(idp, oidc_provider, subscribe_hook, frames, run):
    entity = f"doc/{unique('private')}"
    subscribe_hook.deny(entity, "order 17 belongs to another customer")

    async def go():
        async with connect(f"{idp.ws}?access_token={oidc_provider.token('alice')}") as alice:
            message = await refused(alice, frames, entity)
            assert "order 17 belongs to another customer" in message
            assert holders(idp, entity) == []
    run(go())


@pytest.mark.parametrize("failure", ["timeout", "status 500"])
def test_a_hook_that_does_not_answer_in_time_or_fails_denies(idp, oidc_provider, subscribe_hook, frames, run, failure):
    entity = f"doc/{unique('slow')}"
    if failure == "timeout":
        subscribe_hook.stall(entity, 4.0)  # then it would allow
    else:
        subscribe_hook.fail(entity, 500)  # with an allow body

    async def go():
        async with connect(f"{idp.ws}?access_token={oidc_provider.token('alice')}") as alice:
            started = time.monotonic()
            await refused(alice, frames, entity)
            return time.monotonic() - started
    waited = run(go())
    assert len(subscribe_hook.asked(entity)) == 1
    assert holders(idp, entity) == []
    if failure == "timeout":
        assert 1.5 <= waited < 3.5, f"the refusal came after {waited:.2f} s, not at the hook's 2 s timeout"


def test_the_hooks_answer_is_cached_for_its_seconds_per_connection(idp, oidc_provider, subscribe_hook, frames, run):
    cached = f"doc/{unique('cached')}"
    uncached = f"doc/{unique('uncached')}"
    subscribe_hook.allow(cached, cache_seconds=60)
    subscribe_hook.allow(uncached)

    async def twice(ws, entity):
        for _ in range(2):
            await subscribed(ws, frames, entity)
            assert await ask(ws, frames, "unsubscribe", entity) == {"type": "Unsubscribed", "entityId": entity}

    async def go():
        token = oidc_provider.token("alice")
        async with connect(f"{idp.ws}?access_token={token}") as first:
            await twice(first, cached)
            await twice(first, uncached)
            assert (len(subscribe_hook.asked(cached)), len(subscribe_hook.asked(uncached))) == (1, 2)
        async with connect(f"{idp.ws}?access_token={token}") as second:
            await subscribed(second, frames, cached)
        assert len(subscribe_hook.asked(cached)) == 2, "another connection must be asked about anew"
    run(go())


# ------------------------------------------------------------------------------ the cap


def test_the_subscription_past_the_cap_is_refused_until_one_is_freed(idp, oidc_provider, frames, run):
    base = f"user/alice/{unique('cap')}"
    entities = [f"{base}/{n}" for n in range(CAP + 1)]

    async def go():
        async with connect(f"{idp.ws}?access_token={oidc_provider.token('alice')}") as alice:
            for entity in entities[:CAP]:
                await subscribed(alice, frames, entity)
            await refused(alice, frames, entities[CAP], code="TooManySubscriptions")
            assert holders(idp, entities[CAP]) == []
            assert await ask(alice, frames, "unsubscribe", entities[0]) == {"type": "Unsubscribed", "entityId": entities[0]}
            await subscribed(alice, frames, entities[CAP])
    run(go())


# ------------------------------------------------------------------------------ the token's end


def test_a_connection_ends_with_its_token(idp, oidc_provider, frames, run, tmp_path):
    """`brief` tokens live a few seconds. Before `exp` pushes arrive; after it the next push is
    not sent but closes the connection (counted `expired`), and a frame gets TokenExpired."""
    entity = f"user/brief/{unique('feed')}"
    subscriber_token, talker_token = oidc_provider.token("brief"), oidc_provider.token("brief")
    expires = max(oidc_provider.verify(t)["exp"] for t in (subscriber_token, talker_token))

    async def go():
        async with connect(f"{idp.ws}?access_token={subscriber_token}") as subscriber, \
                connect(f"{idp.ws}?access_token={talker_token}") as talker:
            await subscribed(subscriber, frames, entity)
            await ping(talker, frames)
            (subscriber_id,) = holders(idp, entity)
            await pushed(subscriber, frames, await publish(idp, tmp_path, entity, "in time"))
            assert time.time() < expires, "the token expired before the first push: raise SHORT_LIFETIME"

            await asyncio.sleep(expires + 1.1 - time.time())
            late = await publish(idp, tmp_path, entity, "too late")
            with pytest.raises(ConnectionClosed):
                frame = await recv_json(subscriber, frames)
                raise AssertionError(f"a connection whose token expired received {frame}")
            report = fanout_report(idp, late)
            assert (report.get("expired"), report["delivered"]) == (1, 0), report
            assert subscriber_id not in [c["connectionId"] for c in idp.connections()]
            assert holders(idp, entity) == []

            await send_json(talker, frames, {"action": "ping"})
            reply = await recv_json(talker, frames)
            assert (reply["type"], reply.get("code")) == ("Error", "TokenExpired"), reply
            with pytest.raises(ConnectionClosed):
                frame = await recv_json(talker, frames)
                raise AssertionError(f"the connection stayed open after TokenExpired and sent {frame}")
    run(go())


# ------------------------------------------------------------------------------ starts refused


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("case", ["unclosed brace", "star inside", "empty rule", "keys unreachable", "plain http issuer"])
def test_a_bad_setting_stops_the_start_with_a_message_naming_it(case):
    nowhere = f"http://127.0.0.1:{closed_port()}"
    args, named = {
        "unclosed brace": (["--subscribe-policy", "user/{sub/*"], "user/{sub/*"),
        "star inside": (["--subscribe-policy", "user/*/orders"], "user/*/orders"),
        "empty rule": (["--subscribe-policy", "user/{sub}/*,,org/{org}/*"], "empty"),
        "keys unreachable": (["--jwt-issuer", nowhere, "--jwks-url", f"{nowhere}/jwks.json"], f"{nowhere}/jwks.json"),
        "plain http issuer": (["--jwt-issuer", "http://idp.example.com"], "https"),
    }[case]
    code, output = failed_start(args)
    assert code != 0, output
    assert named.lower() in output.lower(), f"the message does not name {named!r}:\n{output}"


# ------------------------------------------------------------------------------ rotation


def test_a_rotated_key_is_taken_after_one_refetch(keys_gw, key_set, trusted_keys, run):
    """The set gains a key the gateway has not seen: a token under its kid connects once the
    gateway refetches, which it does at most once a minute (its fetch at start counts, so this
    test comes late in the module and waits out what is left of that minute)."""
    rotated = SigningKey("RS256")
    key_set.publish([*trusted_keys.values(), rotated])
    token = rotated.sign(claims_for(key_set.origin, KEYS_AUDIENCE, unique("rotated")))
    before = key_set.fetches
    deadline = time.time() + 75

    async def go():
        while True:
            status = await status_of(f"{keys_gw.ws}?access_token={token}")
            if status == 101 or time.time() > deadline:
                return status
            await asyncio.sleep(2)
    assert run(go()) == 101, "the rotated key was not taken within 75 s"
    assert 1 <= key_set.fetches - before <= 2, f"{key_set.fetches - before} fetches for one rotation"


# ------------------------------------------------------------------------------ logs


def test_no_token_appears_in_any_log_line(idp, keys_gw):
    """Runs last in file order: every token of this module, whole or its signature alone, in
    the log of both gateways. (The banner on stdout shows an example test token on purpose.)"""
    assert ISSUED
    for gateway in (idp, keys_gw):
        text = gateway.log_path.read_text(errors="replace")
        for token in ISSUED:
            signature = token.rsplit(".", 1)[1]
            assert token not in text, f"a token is in {gateway.log_path}"
            assert not signature or signature not in text, f"a token's signature is in {gateway.log_path}"
