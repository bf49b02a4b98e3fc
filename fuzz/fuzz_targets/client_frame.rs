//! Client frames: API Gateway's route selection (`integration::select_route`) and the runtime's
//! `frames::parse_client_frame`. Never a panic; the selected route is one a client may reach
//! (never `$connect`/`$disconnect`); parsing under the selected route agrees with parsing the
//! same body under `$default` (the route is stable); a frame sent to `$default` is never a
//! valid action; an accepted entity id is within its limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wspush_contract::routes;
use wspush_gateway::client::Body;
use wspush_gateway::integration::select_route;
use wspush_runtime::frames::{parse_client_frame, ClientAction, FrameError, MAX_ENTITY_ID_BYTES};

fuzz_target!(|data: &[u8]| {
    let body = match std::str::from_utf8(data) {
        Ok(text) => Body::Text(text.to_string()),
        Err(_) => Body::Binary(data.to_vec()),
    };
    let route = select_route(&body);
    assert!(
        routes::ALL.contains(&route) && route != routes::CONNECT && route != routes::DISCONNECT,
        "a frame selected {route}"
    );
    let Body::Text(text) = &body else {
        assert_eq!(route, routes::DEFAULT, "binary frames go to $default");
        return;
    };
    let on_route = parse_client_frame(route, Some(text));
    let on_default = parse_client_frame(routes::DEFAULT, Some(text));
    if route == routes::DEFAULT {
        assert!(
            on_default.is_err(),
            "$default got a valid action: {on_default:?}"
        );
        if let Err(e) = &on_default {
            assert!(
                matches!(
                    e,
                    FrameError::NotJson
                        | FrameError::NotObject
                        | FrameError::NoAction
                        | FrameError::UnknownAction(_)
                ),
                "$default refused for another reason: {e:?}"
            );
        }
    } else {
        assert_eq!(
            on_route, on_default,
            "route {route} parses differently on $default"
        );
        let expected = match &on_route {
            Ok(ClientAction::Subscribe { .. }) => routes::SUBSCRIBE,
            Ok(ClientAction::Unsubscribe { .. }) => routes::UNSUBSCRIBE,
            Ok(ClientAction::Ping) => routes::PING,
            Err(_) => route,
        };
        assert_eq!(expected, route, "the action differs from its route");
    }
    if let Ok(ClientAction::Subscribe { entity_id } | ClientAction::Unsubscribe { entity_id }) =
        &on_route
    {
        assert!(!entity_id.is_empty() && entity_id.len() <= MAX_ENTITY_ID_BYTES);
    }
    // Any route key, even one API Gateway would never send, is refused without a panic.
    let _ = parse_client_frame(text, Some(text));
    let _ = parse_client_frame(route, None);
});
