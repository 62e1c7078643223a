//! The whole request path on a real shard: each input is a request frame
//! (without its size prefix) answered by `ringlog::harness::RequestHarness`
//! (header, bounded body decode, legacy conversion, dispatch, the engine,
//! response encode), and `ringlog::harness::check_request` asserts the
//! answer carries the correlation id and decodes whole at the request's
//! version. Run it under libFuzzer's memory limits, e.g.
//! `cargo fuzz run request -- -rss_limit_mb=2048 -malloc_limit_mb=512`:
//! an allocation sized by an unchecked count is a finding.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ringlog::harness::{check_request, RequestHarness};

struct Shard {
    harness: RequestHarness,
    _data: tempfile::TempDir,
}

fn shard() -> &'static Shard {
    static SHARD: OnceLock<Shard> = OnceLock::new();
    SHARD.get_or_init(|| {
        let data = tempfile::tempdir().expect("a data directory");
        // Small segments so that inputs reach rolling and retention; no
        // auto-created topics, which would fill the disk with partitions.
        let overrides = [
            ("log.segment.bytes", "65536"),
            ("auto.create.topics.enable", "false"),
            ("num.partitions", "1"),
        ];
        let harness = RequestHarness::start(data.path(), &overrides).expect("the shard starts");
        Shard {
            harness,
            _data: data,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    check_request(&shard().harness, data);
});
