//! Arbitrary JSON events into `event::classify` and `Runtime::handle` (in-memory store, no
//! pusher): never a panic; a shape `classify` refuses is refused with `UnknownEvent` or
//! `InvalidEvent` (permanent, so never retried), `handle` refuses it the same way, and every
//! failure crosses the Lambda wire with an error type and a message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use wspush_runtime::event::classify;
use wspush_runtime::HandlerError;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let classified = classify(event.clone());
    if let Err(e) = &classified {
        assert!(
            matches!(
                e,
                HandlerError::UnknownEvent(_) | HandlerError::InvalidEvent(_)
            ),
            "classify refused with an unexpected error: {e:?}"
        );
        assert!(e.is_permanent(), "a malformed event is retried: {e:?}");
    }
    let handled = wspush_fuzz::tokio().block_on(wspush_fuzz::runtime().handle(event));
    match (classified, handled) {
        (Err(refused), Err(e)) => assert_eq!(refused.to_string(), e.to_string()),
        (Err(refused), Ok(answer)) => {
            panic!("classify refused ({refused}) but handle answered {answer}")
        }
        (Ok(_), Err(e)) => {
            let diagnostic = lambda_runtime::Diagnostic::from(e);
            assert!(!diagnostic.error_type.is_empty() && !diagnostic.error_message.is_empty());
        }
        (Ok(_), Ok(_)) => {}
    }
});
