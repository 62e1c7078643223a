//! The request-path fuzz target's corpus (`fuzz/corpus/request/`), replayed
//! as an ordinary test through the same harness and check the target runs
//! (`ringlog::harness::check_request`): every committed input, seeds and
//! past findings alike, must pass. The seeds are a valid request of every
//! advertised (API, version) (`api::samples`); a version added to the table
//! without its seed fails `every_advertised_version_has_a_seed`. Rewrite
//! the seeds with
//! `cargo test -p ringlog --test request_fuzz_corpus -- --ignored write_seeds`.

use std::path::{Path, PathBuf};

use ringlog::harness::{check_request, RequestHarness};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/request")
}

fn seed_name(key: kafka_protocol::messages::ApiKey, version: i16) -> String {
    format!("seed-{key:?}-v{version}")
}

#[test]
fn every_advertised_version_has_a_seed() {
    for (key, version, frame) in ringlog::api::samples::every_advertised() {
        let path = corpus_dir().join(seed_name(key, version));
        let seed = std::fs::read(&path)
            .unwrap_or_else(|_| panic!("no seed {} (run write_seeds)", path.display()));
        assert_eq!(seed, frame, "{} is stale (run write_seeds)", path.display());
    }
}

#[test]
fn the_corpus_replays_through_the_whole_request_path() {
    let data = tempfile::tempdir().unwrap();
    let harness = RequestHarness::start(data.path(), &[]).unwrap();
    let mut replayed = 0;
    let mut entries: Vec<_> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let input = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_request(&harness, &input)
        }));
        assert!(
            outcome.is_ok(),
            "{} fails the request check",
            path.display()
        );
        replayed += 1;
    }
    assert!(replayed > 170, "only {replayed} inputs");
}

#[test]
#[ignore = "writes fuzz/corpus/request/seed-*"]
fn write_seeds() {
    std::fs::create_dir_all(corpus_dir()).unwrap();
    for (key, version, frame) in ringlog::api::samples::every_advertised() {
        std::fs::write(corpus_dir().join(seed_name(key, version)), &frame).unwrap();
    }
}
