//! Replays the fuzz corpus (`fuzz/corpus/<target>/*`) as an ordinary test,
//! with the very assertions the fuzz targets make (`fuzz/src/checks.rs`), so
//! every seed and every input a fuzz run kept is checked on each `cargo test`
//! without cargo-fuzz or a nightly toolchain. See docs/fuzzing.md.
//!
//! Regenerate the seed files after a format change with
//! `cargo test -p ringlog-engine --test fuzz_corpus -- --ignored write_seed_corpus`.

#[path = "../../fuzz/src/checks.rs"]
mod checks;
#[path = "../../fuzz/src/format_checks.rs"]
mod format_checks;
#[path = "../../fuzz/src/seeds.rs"]
mod seeds;

use std::path::{Path, PathBuf};

use checks::Domain;

const TARGETS: [&str; 5] = [
    "record_batch",
    "offset_index",
    "time_index",
    "compressed_batch",
    "legacy_message_set",
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

/// Runs one target's checks on one input; returns whether it parsed.
fn check(target: &str, data: &[u8]) -> bool {
    match target {
        "record_batch" => checks::record_batch(data, Domain::Sane) > 0,
        "offset_index" => checks::offset_index(data, Domain::Sane),
        "time_index" => checks::time_index(data, Domain::Sane),
        "compressed_batch" => format_checks::compressed_batch(data),
        "legacy_message_set" => format_checks::legacy_message_set(data),
        other => panic!("no fuzz target {other}"),
    }
}

#[test]
fn corpus_replays() {
    let mut files = 0;
    let mut valid = std::collections::BTreeMap::new();
    for target in TARGETS {
        let dir = corpus_dir().join(target);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("read {}: {error}", dir.display()))
            .map(|entry| entry.expect("corpus entry").path())
            .filter(|path| path.is_file())
            .collect();
        paths.sort();
        assert!(!paths.is_empty(), "{} is empty", dir.display());
        for path in paths {
            let data = std::fs::read(&path).expect("read corpus file");
            let parsed = std::panic::catch_unwind(|| check(target, &data))
                .unwrap_or_else(|_| panic!("{} fails its checks", path.display()));
            files += 1;
            *valid.entry(target).or_insert(0) += usize::from(parsed);
        }
    }
    println!("{files} corpus files; valid inputs per target: {valid:?}");
    for target in TARGETS {
        assert!(
            valid.get(target).copied().unwrap_or(0) > 0,
            "no corpus file of {target} is a valid input"
        );
    }
}

/// The seeds as the current encoders make them pass the checks too (catches
/// an encoder change before the files on disk are regenerated).
#[test]
fn generated_seeds_pass() {
    for seed in seeds::all() {
        assert!(
            check(seed.target, &seed.bytes),
            "seed {}/{} does not parse",
            seed.target,
            seed.name
        );
    }
}

#[test]
#[ignore = "writes fuzz/corpus/*/seed-*; run by hand after a format change"]
fn write_seed_corpus() {
    for seed in seeds::all() {
        let dir = corpus_dir().join(seed.target);
        std::fs::create_dir_all(&dir).expect("create corpus dir");
        std::fs::write(dir.join(seed.name), &seed.bytes).expect("write seed");
    }
}
