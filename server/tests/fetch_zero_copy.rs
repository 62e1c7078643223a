//! Zero copy: a catch-up consumer reading cold, sealed segments gets its
//! record data through sendfile; the broker's own counters show how many
//! record bytes went file → socket and how few were copied from memory.

mod support;

use support::kafka::*;
use support::*;

#[test]
fn catch_up_reads_go_file_to_socket() {
    let mut broker = Broker::start_logged(2, &["log.segment.bytes=4194304", "num.partitions=2"]);
    let bootstrap = broker.bootstrap();
    let topic = "cold";
    let sent: Vec<Sent> = (0..4000)
        .map(|index| Sent {
            partition: index % 2,
            key: None,
            value: vec![b'a' + (index % 26) as u8; 10_000],
            headers: vec![],
            timestamp: Some(1_700_000_000_000),
        })
        .collect();
    {
        let producer = producer(
            &bootstrap,
            &[
                ("acks", "1"),
                ("batch.size", "1000000"),
                ("linger.ms", "20"),
            ],
        );
        let reports = send_all(&producer, topic, &sent);
        assert!(reports.iter().all(|report| report.error.is_none()));
    }
    // A clean restart empties the in-memory tail cache: every read is cold.
    broker.restart();
    let received = read_from_beginning(&broker.bootstrap(), topic, 2, sent.len());
    for (_, _, record) in &received {
        assert_eq!(record.value.len(), 10_000);
        assert!(record.value.iter().all(|byte| *byte == record.value[0]));
    }
    broker.stop();
    let log = broker.log_text();
    let sendfile = fetch_counter(&log, "sendfile_bytes");
    let memory = fetch_counter(&log, "memory_record_bytes");
    let payload: u64 = sent.iter().map(|record| record.value.len() as u64).sum();
    eprintln!("values {payload} bytes; sendfile {sendfile} bytes; from memory {memory} bytes");
    assert!(
        sendfile >= payload,
        "sendfile moved {sendfile} bytes for {payload} bytes of values"
    );
    // Only the partial last page of each active segment comes from memory.
    assert!(
        memory <= 2 * 2 * 4096 * 4,
        "{memory} record bytes copied from memory"
    );
    assert!(broker.data.join("cold-0/00000000000000000000.log").exists());
}
