//! Shared code of Ringlog's fuzz targets. The assertions live in
//! `checks.rs` and `format_checks.rs`, which `engine/tests/fuzz_corpus.rs` also compiles to replay
//! the corpus; `seeds.rs` makes the seed corpus.

pub mod checks;
pub mod format_checks;
pub mod seeds;

/// The input domain the targets use: `Sane` unless built with
/// `--features full-domain` (docs/fuzzing.md, "Known bugs").
pub const DOMAIN: checks::Domain = if cfg!(feature = "full-domain") {
    checks::Domain::Full
} else {
    checks::Domain::Sane
};
