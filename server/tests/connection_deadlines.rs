//! `connections.max.idle.ms`: a connection that sends no whole request
//! for that long is closed; one that keeps asking stays open, and one that
//! trickles a frame byte by byte does not count as active.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use support::*;

const IDLE_MS: u64 = 1500;

#[test]
fn idle_connections_are_closed_and_busy_ones_kept() {
    let idle = format!("connections.max.idle.ms={IDLE_MS}");
    let broker = Broker::start_logged(1, &[&idle]);

    let mut quiet = Raw::connect(&broker);
    let mut busy = Raw::connect(&broker);
    let mut trickle = Raw::connect(&broker);
    let opened = Instant::now();
    // A frame of 200 bytes, sent a byte at a time: never a whole request.
    trickle.stream.write_all(&200i32.to_be_bytes()).unwrap();
    let mut trickled = 0;
    while opened.elapsed() < Duration::from_millis(IDLE_MS * 2 + 500) {
        assert_eq!(busy.api_versions().error_code, 0);
        if trickled < 200 && trickle.stream.write_all(&[0]).is_ok() {
            trickled += 1;
        }
        std::thread::sleep(Duration::from_millis(IDLE_MS / 5));
    }
    assert_eq!(busy.api_versions().error_code, 0, "a busy connection stays");

    // `is_closed` sees the end of the stream (a timeout would fail it).
    quiet
        .stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(quiet.is_closed(), "an idle connection is closed");
    assert!(
        trickle.is_closed(),
        "a trickled frame does not keep it open"
    );
    let log = broker.log_text();
    assert_eq!(
        log.matches("(connections.max.idle.ms)").count(),
        2,
        "each close says why:\n{log}"
    );
}
