//! Bounded decoding (issue 12): no request makes the broker allocate more
//! than a small multiple of the bytes it received, whatever its counts and
//! lengths claim. Every advertised (API, version) sample is mutated at
//! every position with huge counts (Int32, Int16 and varint forms) and
//! decoded the way the broker decodes requests, while a counting allocator
//! watches the peak; then the broker itself gets the frames that used to
//! abort it and must stay up.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            if new_size >= layout.size() {
                let grown = new_size - layout.size();
                let now = CURRENT.fetch_add(grown, Ordering::Relaxed) + grown;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What one decode may allocate beyond what was live before it: a fixed
/// allowance plus a multiple of the frame (decoded structs are larger than
/// their wire form: a topic of 2 bytes on the wire is ~80 bytes decoded).
fn allowance(frame_len: usize) -> usize {
    64 * 1024 + 64 * frame_len
}

/// The counters are process-wide: measuring tests take turns.
static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Peak bytes allocated while `decode` ran, beyond those live before.
fn peak_of(decode: impl FnOnce()) -> usize {
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    decode();
    PEAK.load(Ordering::Relaxed).saturating_sub(before)
}

/// Huge claims, written over the frame at a position.
const CLAIMS: [&[u8]; 5] = [
    &[0x7f, 0xff, 0xff, 0xff],       // Int32 count or length: 2^31 - 1
    &[0x7f, 0xff, 0xff, 0xfe],       // 2^31 - 2
    &[0x7f, 0xff],                   // Int16 string length: 32767
    &[0xff, 0xff, 0xff, 0xff, 0x0f], // unsigned varint: 2^32 - 1
    &[0x80, 0x80, 0x80, 0x80, 0x08], // unsigned varint: 2^31 (compact array of 2^31 - 1)
];

/// Every sample, mutated at every position after the preamble, decodes or
/// fails within its allowance; and the unmutated sample decodes.
#[test]
fn no_count_or_length_reserves_more_than_the_frame_carries() {
    let _turn = MEASURING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut cases = 0;
    let mut worst = (0.0f64, String::new());
    for (key, version, frame) in ringlog::api::samples::every_advertised() {
        assert!(ringlog::api::decode_request(frame.clone()).is_ok());
        for position in 8..frame.len() {
            for claim in CLAIMS {
                if position + claim.len() > frame.len() {
                    continue;
                }
                let mut hostile = frame.to_vec();
                hostile[position..position + claim.len()].copy_from_slice(claim);
                let len = hostile.len();
                let hostile = Bytes::from(hostile);
                let peak = peak_of(|| drop(ringlog::api::decode_request(hostile)));
                assert!(
                    peak <= allowance(len),
                    "{key:?} v{version}: {claim:02x?} at byte {position} of {len} \
                     allocated {peak} bytes"
                );
                let ratio = peak as f64 / len as f64;
                if ratio > worst.0 {
                    worst = (ratio, format!("{key:?} v{version} at {position}"));
                }
                cases += 1;
            }
        }
    }
    assert!(cases > 10_000, "only {cases} hostile frames were tried");
    println!(
        "{cases} hostile frames; worst peak {:.1}x the frame ({})",
        worst.0, worst.1
    );
}

/// A frame made of the smallest possible array elements: the worst honest
/// ratio of decoded memory to wire bytes stays within the allowance.
#[test]
fn a_frame_of_minimal_elements_stays_within_a_small_multiple() {
    let _turn = MEASURING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Metadata v9: a compact array of N topics, each an empty compact
    // string (1 byte) and an empty tag buffer (1 byte).
    let topics = 100_000usize;
    let mut frame = vec![0, 3, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0]; // header v2, null client id
    let mut count = topics as u64 + 1;
    while count >= 0x80 {
        frame.push((count as u8 & 0x7f) | 0x80);
        count >>= 7;
    }
    frame.push(count as u8);
    for _ in 0..topics {
        frame.extend_from_slice(&[1, 0]);
    }
    frame.extend_from_slice(&[1, 0, 0, 0]); // allow auto creation, two flags, tags
    let len = frame.len();
    let peak = peak_of(|| {
        let request = ringlog::api::decode_request(Bytes::from(frame)).expect("valid");
        drop(request);
    });
    assert!(
        peak <= allowance(len),
        "{peak} bytes for a {len}-byte frame"
    );
    println!(
        "{topics} minimal topics: {:.1}x the frame",
        peak as f64 / len as f64
    );
}

/// The broker closed the connection: EOF or a reset, not a timeout.
fn assert_closed(stream: &mut std::net::TcpStream, frame: &[u8]) {
    use std::io::{ErrorKind, Read};
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => {}
        Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
        Ok(_) => panic!("{frame:02x?} was answered"),
        Err(error) => panic!("{frame:02x?}: no close but {error}"),
    }
}

/// The frames that aborted the broker (`memory allocation of 154618822584
/// bytes failed`) now close the connection, and the broker still answers.
#[test]
fn the_broker_survives_the_requests_that_used_to_abort_it() {
    let _turn = MEASURING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let broker = support::Broker::start(2);
    let hostile: [&[u8]; 3] = [
        // Metadata v9: header (flexible), topics compact array of 2^31 - 1.
        &[
            0, 3, 0, 9, 0, 0, 0, 7, 0xff, 0xff, 0, 0x80, 0x80, 0x80, 0x80, 0x08,
        ],
        // Metadata v4: topics array of 0x7ffffffe.
        &[
            0, 3, 0, 4, 0, 0, 0, 7, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xfe, 1,
        ],
        // Produce v9: transactional id null, acks, timeout, topics 2^31 - 1.
        &[
            0, 0, 0, 9, 0, 0, 0, 7, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0x13, 0x88, 0x80, 0x80, 0x80,
            0x80, 0x08,
        ],
    ];
    for frame in hostile {
        let mut raw = support::Raw::connect(&broker);
        raw.send_bytes(frame);
        assert_closed(&mut raw.stream, frame);
        let mut fresh = support::Raw::connect(&broker);
        fresh.send_bytes(&[0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
        assert!(
            fresh.receive_frame().is_some(),
            "ApiVersions unanswered after {frame:02x?}"
        );
    }
}
