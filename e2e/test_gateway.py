"""The local gateway end to end, through the clients users run: the aws CLI and `websockets`.

Each test uses its own user ids and entity ids, so the tests share one gateway per session
(and one DynamoDB table) without seeing each other's frames.
"""

import asyncio
import http.client
import hashlib
import json
import os
import time
import urllib.request
import uuid
from hashlib import sha256
from urllib.parse import quote

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import ROOT, SECRET, sign, token_for

ENTITY_EXAMPLE = ROOT / "examples" / "entity-updated.json"
USER_EXAMPLE = ROOT / "examples" / "send-user-push-notification.json"


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def recv_json(ws, frames, timeout=10):
    """The next frame, parsed and checked against the AsyncAPI server messages."""
    raw = await asyncio.wait_for(ws.recv(), timeout)
    frame = json.loads(raw)
    frames.from_server(frame)
    return frame


async def send_json(ws, frames, frame):
    frames.from_client(frame)
    await ws.send(json.dumps(frame))


async def subscribe(ws, frames, entity):
    await send_json(ws, frames, {"action": "subscribe", "entityId": entity})
    reply = await recv_json(ws, frames)
    assert (reply["type"], reply["entityId"]) == ("Subscribed", entity), reply
    assert isinstance(reply["serial"], int) and "streamId" in reply, reply
    return reply


async def silent(ws, seconds):
    try:
        extra = await asyncio.wait_for(ws.recv(), seconds)
    except asyncio.TimeoutError:
        return True
    raise AssertionError(f"unexpected frame {extra!r}")


def entries_file(tmp_path, detail_type, detail):
    path = tmp_path / "entries.json"
    path.write_text(json.dumps([{"Source": "e2e", "DetailType": detail_type, "Detail": json.dumps(detail)}]))
    return path


# ------------------------------------------------------------------------------ AsyncAPI


def test_asyncapi_document_parses_with_the_real_parser(asyncapi):
    assert asyncapi["returncode"] == 0, asyncapi["output"]
    names = {m["name"] for m in asyncapi["messages"]}
    for expected in ["subscribe", "unsubscribe", "ping", "subscribed", "unsubscribed", "pong",
                     "error", "entityUpdated", "userPushNotification"]:
        assert expected in names, f"{expected} missing from {sorted(names)}"


# ------------------------------------------------------------------------------ Lambda Invoke


def test_lambda_invoke_mints_a_token_that_connects(gateway, frames, run, tmp_path):
    out = tmp_path / "response.json"
    gateway.aws("lambda", "invoke", "--function-name", "CreateTestJwt", str(out))
    minted = json.loads(out.read_text())
    assert minted["token"] == minted["authToken"]

    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"userId": "minted-user"}))
    gateway.aws("lambda", "invoke", "--function-name", "CreateTestJwt", "--payload", f"file://{payload}", str(out))
    token = json.loads(out.read_text())["token"]

    async def use():
        async with connect(f"{gateway.ws}?access_token={token}") as ws:
            await send_json(ws, frames, {"action": "ping"})
            assert await recv_json(ws, frames) == {"type": "Pong"}
    run(use())
    assert gateway.connections() is not None


def test_lambda_invoke_of_another_function_is_not_found(gateway, tmp_path):
    done = gateway.aws("lambda", "invoke", "--function-name", "SomethingElse", str(tmp_path / "out.json"), check=False)
    assert done.returncode != 0
    assert "ResourceNotFoundException" in done.stderr, done.stderr


# ------------------------------------------------------------------------------ $connect


def test_token_in_the_query_string(gateway, frames, run):
    async def go():
        async with connect(f"{gateway.ws}?access_token={token_for(unique('q'))}") as ws:
            await send_json(ws, frames, {"action": "ping"})
            assert (await recv_json(ws, frames))["type"] == "Pong"
    run(go())


def test_token_as_subprotocol_and_websocket_selected(gateway, frames, run):
    async def go():
        async with connect(gateway.ws, subprotocols=["websocket", token_for(unique("p"))]) as ws:
            assert ws.subprotocol == "websocket"
            await send_json(ws, frames, {"action": "ping"})
            assert (await recv_json(ws, frames))["type"] == "Pong"
    run(go())


@pytest.mark.parametrize("case", ["missing", "forged", "expired", "alg-none", "garbage"])
def test_bad_tokens_get_401(gateway, run, case):
    now = int(time.time())
    tokens = {
        "missing": None,
        "forged": token_for("mallory", secret="not-" + SECRET),
        "expired": sign({"exp": now - 3600, "data": {"userId": "late"}}),
        "alg-none": sign({"exp": now + 3600, "data": {"userId": "none"}}, alg="none").rsplit(".", 1)[0] + ".",
        "garbage": "abc.def.ghi",
    }
    token = tokens[case]
    url = gateway.ws if token is None else f"{gateway.ws}?access_token={token}"

    async def go():
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url):
                pass
        assert refused.value.response.status_code == 401
        if token is not None:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(gateway.ws, subprotocols=["websocket", token]):
                    pass
            assert refused.value.response.status_code == 401
    run(go())
    assert not [c for c in gateway.connections() if c["authorizer"].get("principalId") in ("mallory", "late", "none")]


# ------------------------------------------------------------------------------ frames and pushes


def test_subscribe_ack_push_unsubscribe_no_push(gateway, frames, run):
    example = json.loads(ENTITY_EXAMPLE.read_text())[0]
    entity = json.loads(example["Detail"])["entityId"]

    async def go():
        async with connect(f"{gateway.ws}?access_token={token_for(unique('sub'))}") as ws:
            await subscribe(ws, frames, entity)

            answer = await asyncio.to_thread(gateway.put_events, ENTITY_EXAMPLE)
            assert answer["FailedEntryCount"] == 0
            event_id = answer["Entries"][0]["EventId"]
            push = await recv_json(ws, frames)
            assert push["type"] == "Entity Updated"
            assert push["entityId"] == entity
            assert push["message"] == json.loads(example["Detail"])["message"]
            assert push["eventId"] == event_id

            await send_json(ws, frames, {"action": "unsubscribe", "entityId": entity})
            assert await recv_json(ws, frames) == {"type": "Unsubscribed", "entityId": entity}
            answer = await asyncio.to_thread(gateway.put_events, ENTITY_EXAMPLE)
            assert answer["FailedEntryCount"] == 0
            assert await silent(ws, 1.5)
    run(go())


def test_user_notification_reaches_both_connections_of_the_user(gateway, frames, run):
    example = json.loads(USER_EXAMPLE.read_text())[0]
    user = json.loads(example["Detail"])["userId"]

    async def go():
        token = token_for(user)
        async with connect(f"{gateway.ws}?access_token={token}") as first, \
                connect(gateway.ws, subprotocols=["websocket", token]) as second, \
                connect(f"{gateway.ws}?access_token={token_for(unique('other'))}") as other:
            # Both connections are registered before the event is published.
            for ws in (first, second, other):
                await send_json(ws, frames, {"action": "ping"})
                await recv_json(ws, frames)
            answer = await asyncio.to_thread(gateway.put_events, USER_EXAMPLE)
            assert answer["FailedEntryCount"] == 0
            for ws in (first, second):
                push = await recv_json(ws, frames)
                assert push["type"] == "User Push Notification"
                assert push["message"] == json.loads(example["Detail"])["message"]
                assert push["callback"] == json.loads(example["Detail"])["callback"]
            assert await silent(other, 1.0)
            assert await silent(first, 0.3)
    run(go())


def test_put_events_reports_failed_entries_as_aws_does(gateway, tmp_path):
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps([
        {"Source": "e2e", "DetailType": "Entity Updated", "Detail": json.dumps({"entityId": "x", "message": "m"})},
        {"Source": "e2e", "DetailType": "Entity Updated", "Detail": "[1, 2, 3]"},
        {"Source": "e2e", "DetailType": "Entity Updated", "Detail": "not json"},
    ]))
    answer = gateway.put_events(path)
    assert answer["FailedEntryCount"] == 2
    assert "EventId" in answer["Entries"][0]
    assert answer["Entries"][1]["ErrorCode"] == "MalformedDetail"
    assert answer["Entries"][2]["ErrorCode"] == "MalformedDetail"


def test_message_text_arrives_as_the_backend_wrote_it(gateway, frames, run, tmp_path):
    """The aws CLI publishes numbers and escapes a float parse would rewrite: the frame carries
    `message` as the detail's text; an integer PutEvents does not accept fails its entry."""
    entity = unique("exact")
    message = r'{"n": 0.1000000000000000055511151231257827, "e": 1E2, "max": 9223372036854775807, "s": "caf\u00e9 \/"}'
    too_big = "123456789012345678901234567890"
    path = tmp_path / "exact.json"
    path.write_text(json.dumps([
        {"Source": "e2e", "DetailType": "Entity Updated",
         "Detail": f'{{"entityId": "{entity}", "message": {message}}}'},
        {"Source": "e2e", "DetailType": "Entity Updated",
         "Detail": f'{{"entityId": "{entity}", "message": {too_big}}}'},
    ]))

    async def go():
        async with connect(f"{gateway.ws}?access_token={token_for(unique('exact'))}") as ws:
            await subscribe(ws, frames, entity)
            answer = await asyncio.to_thread(gateway.put_events, path)
            assert answer["FailedEntryCount"] == 1
            assert answer["Entries"][1]["ErrorCode"] == "MalformedDetail"
            assert too_big in answer["Entries"][1]["ErrorMessage"]
            raw = await asyncio.wait_for(ws.recv(), 10)
            frames.from_server(json.loads(raw))
            assert f'"message":{message},' in raw, raw
            assert await silent(ws, 1.0)
    run(go())


def test_error_frames_leave_the_connection_open(gateway, frames, run):
    async def go():
        async with connect(f"{gateway.ws}?access_token={token_for(unique('err'))}") as ws:
            for bad in ["not json", "[1,2]", json.dumps({"action": "dance"}), json.dumps({"noaction": 1}),
                        json.dumps({"action": "subscribe"}), json.dumps({"action": "subscribe", "entityId": ""}),
                        json.dumps({"action": "unsubscribe", "entityId": 7})]:
                await ws.send(bad)
                reply = await recv_json(ws, frames)
                assert reply["type"] == "Error", (bad, reply)
                assert reply["message"]
            await send_json(ws, frames, {"action": "ping"})
            assert await recv_json(ws, frames) == {"type": "Pong"}
    run(go())


def test_oversize_frame_closes_with_1009(gateway, run):
    async def go():
        async with connect(f"{gateway.ws}?access_token={token_for(unique('big'))}") as ws:
            await ws.send(json.dumps({"action": "ping", "pad": "x" * (40 * 1024)}))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    run(go())


# ------------------------------------------------------------------------------ @connections


def test_connections_api_and_410_after_close(gateway, frames, run, tmp_path):
    user = unique("mgmt")

    async def go():
        async with connect(f"{gateway.ws}?access_token={token_for(user)}") as ws:
            await send_json(ws, frames, {"action": "ping"})
            await recv_json(ws, frames)
            connection_id = gateway.connection_of(user)
            mgmt = ("apigatewaymanagementapi",)
            await asyncio.to_thread(
                gateway.aws, *mgmt, "post-to-connection", "--connection-id", connection_id,
                "--data", json.dumps({"type": "Pong"}), endpoint=gateway.management)
            assert await recv_json(ws, frames) == {"type": "Pong"}
            got = await asyncio.to_thread(
                gateway.aws, *mgmt, "get-connection", "--connection-id", connection_id, endpoint=gateway.management)
            facts = json.loads(got.stdout)
            assert {"ConnectedAt", "LastActiveAt", "Identity"} <= set(facts)
            assert facts["Identity"]["SourceIp"] == "127.0.0.1"
        # The client closed: the id is gone.
        gone = await asyncio.to_thread(
            gateway.aws, *mgmt, "post-to-connection", "--connection-id", connection_id,
            "--data", "late", endpoint=gateway.management, check=False)
        assert gone.returncode != 0
        assert "GoneException" in gone.stderr, gone.stderr

        # DELETE closes a live socket and runs $disconnect.
        other = unique("mgmt-del")
        async with connect(f"{gateway.ws}?access_token={token_for(other)}") as ws:
            await send_json(ws, frames, {"action": "ping"})
            await recv_json(ws, frames)
            connection_id = gateway.connection_of(other)
            await asyncio.to_thread(
                gateway.aws, *mgmt, "delete-connection", "--connection-id", connection_id, endpoint=gateway.management)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
        gone = await asyncio.to_thread(
            gateway.aws, *mgmt, "get-connection", "--connection-id", connection_id,
            endpoint=gateway.management, check=False)
        assert "GoneException" in gone.stderr, gone.stderr
    run(go())


# ------------------------------------------------------------------------------ SigV4 over what is received
# Requests signed by botocore's SigV4Auth (the aws CLI's own signer, installed with it) and sent
# byte for byte as a replaying client would send them.


def botocore_signed(gateway, connection_id, body, query="", headers=None):
    """The headers of a POST of `body` to `connection_id`, signed by botocore with the key the
    aws CLI uses here; `headers` (botocore signs every header it is given) come with them."""
    url = f"{gateway.management}/@connections/{quote(connection_id, safe='')}{query}"
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials("local", "local"), "execute-api", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def post_raw(gateway, connection_id, body, headers, query=""):
    """POSTs `body` with `headers` as given (plus Host and Content-Length) to the query as given;
    returns the status, the x-amzn-ErrorType and the body."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        path = f"/production/@connections/{quote(connection_id, safe='')}{query}"
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("x-amzn-ErrorType"), response.read().decode()
    finally:
        connection.close()


async def open_connection(gateway, frames, user):
    """A connected socket of `user` and its connection id."""
    ws = await connect(f"{gateway.ws}?access_token={token_for(user)}")
    await send_json(ws, frames, {"action": "ping"})
    await recv_json(ws, frames)
    return ws, gateway.connection_of(user)


def test_a_signature_covers_the_body_received_not_a_stated_hash(gateway, frames, run):
    """A POST botocore signed with SignedHeaders host;x-amz-date, resent with another body and
    the signed body's hash in an unsigned x-amz-content-sha256 header, is refused and the
    client receives nothing. So are bodies botocore signed over a stated hash that is not
    theirs (UNSIGNED-PAYLOAD, another body's hash), the header signed as S3 clients sign it.
    With its own body the same signature is delivered."""
    signed_body = json.dumps({"type": "Pong"}).encode()
    forged_body = json.dumps({"type": "Pong", "forged": True}).encode()

    async def go():
        ws, connection_id = await open_connection(gateway, frames, unique("sigv4-body"))
        async with ws:
            signed = botocore_signed(gateway, connection_id, signed_body)
            assert "SignedHeaders=host;x-amz-date," in signed["Authorization"], signed

            def stating(stated):
                return botocore_signed(gateway, connection_id, signed_body, headers={"X-Amz-Content-SHA256": stated})

            refusals = [
                ("a forged body, the signed body's hash stated unsigned", forged_body,
                 {**signed, "X-Amz-Content-SHA256": sha256(signed_body).hexdigest()}),
                ("UNSIGNED-PAYLOAD, signed", signed_body, stating("UNSIGNED-PAYLOAD")),
                ("another body's hash, signed", signed_body, stating(sha256(forged_body).hexdigest())),
            ]
            for what, body, headers in refusals:
                status, error_type, text = await asyncio.to_thread(post_raw, gateway, connection_id, body, headers)
                assert (status, error_type) == (403, "InvalidSignatureException"), f"{what}: {status} {text}"
                assert "x-amz-content-sha256" in text, f"{what}: {text}"
            await silent(ws, 0.5)

            for headers in [signed, stating(sha256(signed_body).hexdigest())]:
                status, _, text = await asyncio.to_thread(post_raw, gateway, connection_id, signed_body, headers)
                assert status == 200, text
                assert await recv_json(ws, frames) == {"type": "Pong"}
    run(go())


def test_a_plus_in_a_signed_query_is_a_plus(gateway, frames, run):
    """botocore signs a query as it is written; the gateway reads it as RFC 3986 does, as AWS
    does: a signature over q=a%2Bb holds for q=a+b, one over q=a%20b (a space) does not."""
    body = json.dumps({"type": "Pong"}).encode()

    async def go():
        ws, connection_id = await open_connection(gateway, frames, unique("sigv4-query"))
        async with ws:
            as_plus = botocore_signed(gateway, connection_id, body, query="?q=a%2Bb")
            status, _, text = await asyncio.to_thread(post_raw, gateway, connection_id, body, as_plus, "?q=a+b")
            assert status == 200, text
            assert await recv_json(ws, frames) == {"type": "Pong"}

            as_space = botocore_signed(gateway, connection_id, body, query="?q=a%20b")
            status, error_type, text = await asyncio.to_thread(
                post_raw, gateway, connection_id, body, as_space, "?q=a+b")
            assert (status, error_type) == (403, "InvalidSignatureException"), text
            await silent(ws, 0.5)
    run(go())


# ------------------------------------------------------------------------------ dead letters


def gateway_json(gateway, path):
    with urllib.request.urlopen(f"{gateway.http}{path}", timeout=10) as r:
        return json.load(r)


def dead_letter_of(gateway, event_id, timeout=10):
    """The dead letter carrying `event_id`, once it is listed."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for message in gateway_json(gateway, "/_gateway/dead-letters")["messages"]:
            if event_id in message["body"]:
                return message
        time.sleep(0.05)
    raise AssertionError(f"event {event_id} was not dead-lettered")


def test_an_event_that_can_never_succeed_is_dead_lettered_at_once_with_its_reason(gateway, tmp_path):
    # The gateway runs with the deployed 180 s visibility timeout: a retried event would not
    # reach the dead-letter queue within this test at all.
    entries = entries_file(tmp_path, "Entity Updated", {"entityId": 42, "message": "never"})
    answer = gateway.put_events(entries)
    assert answer["FailedEntryCount"] == 0
    event_id = answer["Entries"][0]["EventId"]
    dead = dead_letter_of(gateway, event_id)
    assert dead["errorCode"] == "InvalidEvent"
    assert "detail.entityId must be a non-empty string" in dead["lastError"], dead["lastError"]
    assert dead["event"]["id"] == event_id
    assert dead["event"]["detail"] == {"entityId": 42, "message": "never"}


def md5_of_string_attributes(attributes):
    """SQS's digest of message attributes, from its documented encoding."""
    def field(text):
        data = text.encode()
        return len(data).to_bytes(4, "big") + data

    buffer = b""
    for name in sorted(attributes):
        buffer += field(name) + field("String") + b"\x01" + field(attributes[name])
    return hashlib.md5(buffer).hexdigest()


def test_aws_cli_send_message_reaches_the_dead_letter_queue_and_unknown_queues_do_not_exist(gateway):
    queues = gateway_json(gateway, "/_gateway/queues")["queues"]
    queue_url = next(q["deadLetterQueueUrl"] for q in queues if q["name"] == "send-user-push-notification")
    body = json.dumps({"sent": unique("by-the-cli")})
    attributes = {"ERROR_CODE": "CliTest", "ERROR_MESSAGE": "sent by the aws CLI"}
    sent = gateway.aws(
        "sqs", "send-message", "--queue-url", queue_url, "--message-body", body,
        "--message-attributes",
        json.dumps({name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()}),
    )
    answer = json.loads(sent.stdout)
    assert answer["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert answer["MD5OfMessageAttributes"] == md5_of_string_attributes(attributes)
    dead = dead_letter_of(gateway, json.loads(body)["sent"])
    assert dead["messageId"] == answer["MessageId"]
    assert (dead["queue"], dead["errorCode"], dead["lastError"], dead["body"]) == (
        "send-user-push-notification-dlq", "CliTest", "sent by the aws CLI", body)

    nowhere = queue_url.replace("-dlq", "-nowhere")
    refused = gateway.aws("sqs", "send-message", "--queue-url", nowhere, "--message-body", "x", check=False)
    assert refused.returncode != 0
    assert "NonExistentQueue" in refused.stderr or "QueueDoesNotExist" in refused.stderr, refused.stderr


# ------------------------------------------------------------------------------ fan-out


FANOUT = 1000


def test_a_client_back_from_a_reconnect_replays_what_the_aws_cli_published_meanwhile(gateway, frames, run, tmp_path):
    entity, user = unique("resume"), unique("resumer")
    (tmp_path / "entity").mkdir()
    (tmp_path / "user").mkdir()
    entity_events = entries_file(tmp_path / "entity", "Entity Updated", {"entityId": entity, "message": "m"})
    user_events = entries_file(tmp_path / "user", "Send User Push Notification", {"userId": user, "message": "n"})

    async def go():
        url = f"{gateway.ws}?access_token={token_for(user)}"
        async with connect(url) as ws:
            await subscribe(ws, frames, entity)
            await asyncio.to_thread(gateway.put_events, entity_events)
            seen = await recv_json(ws, frames)
            assert seen["serial"] == 1, seen
            await send_json(ws, frames, {"action": "resume"})
            user_start = await recv_json(ws, frames)
            assert (user_start["type"], user_start["serial"]) == ("Resumed", 0), user_start
        published = [await asyncio.to_thread(gateway.put_events, entity_events) for _ in range(3)]
        published.append(await asyncio.to_thread(gateway.put_events, user_events))
        assert all(answer["FailedEntryCount"] == 0 for answer in published)
        async with connect(url) as ws:
            since = {"streamId": seen["streamId"], "serial": 1}
            await send_json(ws, frames, {"action": "subscribe", "entityId": entity, "since": since})
            replayed = [await recv_json(ws, frames) for _ in range(3)]
            assert [p["serial"] for p in replayed] == [2, 3, 4]
            assert [p["eventId"] for p in replayed] == [a["Entries"][0]["EventId"] for a in published[:3]]
            reply = await recv_json(ws, frames)
            assert (reply["type"], reply["serial"], reply["replayed"]) == ("Subscribed", 4, 3), reply

            await send_json(ws, frames, {"action": "resume", "since": {"streamId": None, "serial": 0}})
            notification = await recv_json(ws, frames)
            assert (notification["type"], notification["serial"]) == ("User Push Notification", 1)
            assert (await recv_json(ws, frames))["replayed"] == 1

            await send_json(ws, frames, {"action": "history", "entityId": entity, "before": 4, "limit": 2})
            page = await recv_json(ws, frames)
            assert ([m["serial"] for m in page["messages"]], page["more"]) == ([2, 3], True), page

            stale = {"streamId": "0" * 32, "serial": 2}
            await send_json(ws, frames, {"action": "subscribe", "entityId": entity, "since": stale})
            failed = await recv_json(ws, frames)
            assert (failed["type"], failed["reason"], failed["oldestSerial"]) == ("ResumeFailed", "stream_reset", 1)
    run(go())


def put_unsharded_subscription(gateway, connection_id, entity):
    """A subscription as written before the index was sharded (the entity id alone as its index
    key), put straight into DynamoDB Local with the aws CLI."""
    item = {
        "pk": {"S": connection_id},
        "sk": {"S": f"subscription#{entity}"},
        "GSI1PK": {"S": entity},
        "GSI1SK": {"S": "subscription#"},
        "ttl": {"N": str(int(time.time()) + 3600)},
    }
    gateway.aws("dynamodb", "put-item", "--table-name", gateway.table, "--item", json.dumps(item),
                endpoint=os.environ["DYNAMODB_ENDPOINT"])


def test_an_entity_named_like_another_ones_shard_key_gets_none_of_its_pushes(gateway, frames, run, tmp_path):
    """Subscriptions are indexed under `{entityId}#{shard}`. Entities spelled like those keys
    (`X#0`, `X#1`, `X#0#0`) and `X` itself each get their own pushes only; on DynamoDB also a
    subscription written before sharding, under `X#0` alone."""
    base = unique("shard")
    names = [base, f"{base}#0", f"{base}#1", f"{base}#0#0"]

    async def go():
        sockets = {}
        for name in names:
            ws, _ = await open_connection(gateway, frames, unique("shard-user"))
            await subscribe(ws, frames, name)
            sockets[name] = [ws]
        if gateway.store == "dynamodb":
            ws, connection_id = await open_connection(gateway, frames, unique("shard-legacy"))
            put_unsharded_subscription(gateway, connection_id, f"{base}#0")
            sockets[f"{base}#0"].append(ws)
        try:
            for name in names:
                answer = await asyncio.to_thread(
                    gateway.put_events, entries_file(tmp_path, "Entity Updated", {"entityId": name, "message": name}))
                assert answer["FailedEntryCount"] == 0
                for ws in sockets[name]:
                    push = await recv_json(ws, frames)
                    assert (push["entityId"], push["message"]) == (name, name), push
                others = [ws for other, group in sockets.items() if other != name for ws in group]
                await asyncio.gather(*(silent(ws, 0.5) for ws in others + sockets[name]))
        finally:
            await asyncio.gather(*(ws.close() for group in sockets.values() for ws in group))
    run(go())


def test_fan_out_to_1000_subscribers_exactly_once(gateway, frames, run, tmp_path):
    entity = unique("crowd")
    entries = entries_file(tmp_path, "Entity Updated", {"entityId": entity, "message": "to everyone"})

    async def go():
        sockets = []
        limit = asyncio.Semaphore(50)

        async def open_one(n):
            async with limit:
                ws = await connect(f"{gateway.ws}?access_token={token_for(f'{entity}-u{n}')}", open_timeout=60)
                await send_json(ws, frames, {"action": "subscribe", "entityId": entity})
                assert (await recv_json(ws, frames, timeout=60))["type"] == "Subscribed"
                return ws

        sockets = await asyncio.gather(*(open_one(n) for n in range(FANOUT)))
        try:
            started = time.perf_counter()
            answer = await asyncio.to_thread(gateway.put_events, entries)
            assert answer["FailedEntryCount"] == 0
            event_id = answer["Entries"][0]["EventId"]
            pushes = await asyncio.gather(*(recv_json(ws, frames, timeout=120) for ws in sockets))
            elapsed = time.perf_counter() - started
            assert all(p["type"] == "Entity Updated" and p["eventId"] == event_id for p in pushes)
            # Exactly one each: nothing more arrives on any socket.
            extras = await asyncio.gather(*(asyncio.wait_for(ws.recv(), 1.0) for ws in sockets), return_exceptions=True)
            assert all(isinstance(e, asyncio.TimeoutError) for e in extras), "a socket got a second frame"
            print(f"\nfan-out to {FANOUT} subscribers ({gateway.store} store): {elapsed:.2f} s including the aws CLI call")
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    run(go())


def test_frames_seen_cover_the_documented_server_messages(frames):
    """Runs last in file order: every server message the document names was seen and checked."""
    for name in ["subscribed", "unsubscribed", "pong", "error", "entityUpdated", "userPushNotification",
                 "resumed", "resumeFailed", "historyPage"]:
        assert frames.seen.get(name, 0) > 0, f"no {name} frame was checked (seen: {frames.seen})"
