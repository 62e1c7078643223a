//! See `ringlog_fuzz::checks::time_index` for what this target asserts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ringlog_fuzz::checks::time_index(data, ringlog_fuzz::DOMAIN);
});
