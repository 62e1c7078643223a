//! Who reads segment files ahead of a cold sendfile follows the device
//! that holds `log.dirs` (engine/src/io/read_ahead.rs): with the device's
//! `read_ahead_kb` within the sending threads' 256 KiB windows the kernel
//! reads ahead (into large pages), above it the broker's threads do, with
//! the kernel's readahead off. The test loop-mounts a filesystem, sets its
//! loop device's readahead to each side in turn, and reads the same records
//! cold through the real broker with librdkafka: the broker says which it
//! chose, every record comes back with its bytes at its offset, and the
//! record bytes go file to socket (sendfile) either way. Needs root and a
//! loop device; without them the test says so and does nothing.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use support::kafka::*;
use support::loop_disk::LoopDisk;
use support::*;

const IMAGE_BYTES: u64 = 256 * 1024 * 1024;
const PARTITIONS: i32 = 4;
const RECORDS: usize = 6_000;
const VALUE_BYTES: usize = 3_000;

/// Puts the loop device's readahead back as it was when dropped.
struct ReadAheadKb {
    file: std::path::PathBuf,
    before: String,
}

impl ReadAheadKb {
    fn set(&self, kib: u64) {
        std::fs::write(&self.file, kib.to_string()).unwrap();
        let read = std::fs::read_to_string(&self.file).unwrap();
        assert_eq!(read.trim(), kib.to_string(), "the device took the setting");
    }
}

impl Drop for ReadAheadKb {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.file, self.before.trim());
    }
}

/// Drops the page cache of every file under `dir` (the broker stopped).
fn evict(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            evict(&path);
        } else if let Ok(file) = std::fs::File::open(&path) {
            use std::os::fd::AsRawFd;
            nix::fcntl::posix_fadvise(
                file.as_raw_fd(),
                0,
                0,
                nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
            )
            .unwrap();
        }
    }
}

fn value(id: usize) -> Vec<u8> {
    let mut value = format!("record {id:06} ").into_bytes();
    value.extend((0..VALUE_BYTES - value.len()).map(|index| (id * 7 + index * 13) as u8));
    value
}

/// Stops the broker, evicts its files' pages, starts it again, reads every
/// record back from the beginning and returns them by (partition, offset),
/// with the record bytes that went out with sendfile meanwhile.
fn read_cold(broker: &mut Broker) -> (BTreeMap<(i32, i64), Vec<u8>>, u64) {
    broker.stop();
    let sent_before = fetch_counter(&broker.log_text(), "sendfile_bytes");
    evict(&broker.data);
    broker.restart();
    let received = read_from_beginning(&broker.bootstrap(), "cold", PARTITIONS, RECORDS);
    broker.stop();
    let sent = fetch_counter(&broker.log_text(), "sendfile_bytes") - sent_before;
    let by_position = received
        .into_iter()
        .map(|(partition, offset, record)| ((partition, offset), record.value))
        .collect();
    (by_position, sent)
}

#[test]
fn cold_reads_are_read_ahead_by_the_kernel_only_within_the_senders_window() {
    let Some(disk) = LoopDisk::mount("read_ahead", IMAGE_BYTES) else {
        return;
    };
    let file = disk.read_ahead_kb_file();
    let read_ahead = ReadAheadKb {
        before: std::fs::read_to_string(&file).unwrap(),
        file,
    };
    read_ahead.set(128);
    let mut broker = Broker::start_logged_in(disk.path().join("data"), 1, &[]);
    create_topic(&broker, "cold", PARTITIONS);
    let records: Vec<Sent> = (0..RECORDS)
        .map(|id| Sent {
            partition: (id % PARTITIONS as usize) as i32,
            key: None,
            value: value(id),
            headers: vec![],
            timestamp: Some(1_700_000_000_000),
        })
        .collect();
    let producer = producer(&broker.bootstrap(), &[("acks", "all"), ("linger.ms", "5")]);
    let reports = send_all(&producer, "cold", &records);
    drop(producer);
    let mut expected = BTreeMap::new();
    for report in &reports {
        assert_eq!(report.error, None, "record {} was refused", report.id);
        expected.insert(
            (report.partition, report.offset),
            records[report.id].value.clone(),
        );
    }
    assert_eq!(
        expected.len(),
        RECORDS,
        "every record has an offset of its own"
    );
    let payload = (RECORDS * VALUE_BYTES) as u64;

    // 128 KiB: within the windows, so the kernel reads ahead.
    let (received, sent) = read_cold(&mut broker);
    let log = broker.log_text();
    assert!(
        log.contains("cold reads: the kernel reads segment files ahead (the device's read_ahead_kb: 128 KiB)"),
        "{log}"
    );
    assert!(
        received == expected,
        "the kernel's readahead changed what was read"
    );
    assert!(sent >= payload, "sendfile moved {sent} bytes for {payload}");

    // 8 MiB (what this machine kind's virtio disk asks for): the broker's
    // own windows, the kernel's readahead off.
    read_ahead.set(8192);
    let (received, sent) = read_cold(&mut broker);
    let log = broker.log_text();
    let windows = "cold reads: sendfile threads read ahead in 256 KiB windows, the kernel's \
                   readahead off (the device's read_ahead_kb: 8192 KiB";
    assert!(log.contains(windows), "{log}");
    assert!(
        received == expected,
        "reading in windows changed what was read"
    );
    assert!(sent >= payload, "sendfile moved {sent} bytes for {payload}");
}
