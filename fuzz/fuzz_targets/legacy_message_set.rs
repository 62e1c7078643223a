//! See `ringlog_fuzz::format_checks::legacy_message_set` for what this target asserts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ringlog_fuzz::format_checks::legacy_message_set(data);
});
