//! Fuzz target: any line of NDJSON input either parses into an event or gives an error naming the
//! line; never a panic. A parsed event holds only what the input format allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rocketmq_bridge::bridge::Event;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    match Event::from_json_line(line, 7) {
        Ok(ev) => {
            assert!(ev.qos.is_none_or(|q| q <= 2));
            assert!(ev
                .topic
                .as_deref()
                .is_none_or(|t| !t.is_empty() && !t.contains('\0')));
        }
        Err(e) => assert_eq!(e.line, 7),
    }
});
