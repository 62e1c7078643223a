//! What the request layer does to record data on its way to and from the
//! engine, as Kafka's `LogValidator` and down-conversion do:
//!
//! * **Produce.** A compressed v2 batch is inflated and its records walked
//!   before it is stored (`engine::record_batch::BatchValidator`), bounded
//!   by `batch_inflated_bytes_max(max.message.bytes)`, 64 KiB of inflated
//!   data at a time with a yield to the executor between pieces, so one
//!   large gzip batch does not stall the other partitions of its shard.
//!   A CreateTime batch whose header maxTimestamp is not its records'
//!   largest (Sarama writes -1) has it rewritten, CRC and all, as Kafka's
//!   `setMaxTimestamp` does: the time index and retention read it.
//!   Produce v0-v2 carry message sets of magic 0 or 1: they are
//!   up-converted to one v2 batch (same codec, timestamps kept for magic 1)
//!   before the engine sees them.
//! * **Fetch v0-v3.** The fetcher reads magic 0 (v0, v1) or magic 1 (v2,
//!   v3): the stored v2 batches are read into memory and down-converted on
//!   the blocking pool (reading them may touch the disk; converting costs
//!   CPU the shard should not spend). These fetchers lose zero copy; v4+
//!   keep it.
//!
//! Uncompressed v2 batches from v3+ producers, the hot path, pass straight
//! through: the engine's own `Validation::Client` walk checks them.

use bytes::Bytes;
use engine::record_batch::legacy::{self, AbortedTransaction};
use engine::record_batch::{
    for_each_record_timestamp, BatchValidator, Compression, RecordBatch, Step, TimestampType,
    Validation,
};
use engine::{BatchError, TimestampMs};

use crate::shard;

/// The magic byte's position in a batch or message-set entry.
const MAGIC_OFFSET: usize = 16;

/// Makes a Produce request's records for one partition ready to append:
/// message sets (Produce v0-v2) up-converted, compressed batches validated.
pub async fn prepare_produced(
    api_version: i16,
    records: Bytes,
    max_message_bytes: usize,
) -> Result<Bytes, BatchError> {
    let inflated_bytes_max = engine::limits::batch_inflated_bytes_max(max_message_bytes);
    let magic = records.get(MAGIC_OFFSET).copied().unwrap_or(2) as i8;
    if api_version <= 2 && magic < 2 {
        // Built from messages that were validated (CRC-32, framing,
        // counts) while parsing: no second walk.
        return legacy::up_convert(&records, inflated_bytes_max).map(Bytes::from);
    }
    let corrections = validate(&records, inflated_bytes_max).await?;
    if corrections.is_empty() {
        return Ok(records);
    }
    // A client that sends a wrong maxTimestamp (Sarama writes -1): the
    // header is rewritten, as Kafka's LogValidator does, since the time
    // index and retention read it. Rare, so a copy is fine.
    let mut fixed = records.to_vec();
    for (range, max_timestamp) in corrections {
        engine::record_batch::set_max_timestamp(&mut fixed[range], max_timestamp);
    }
    Ok(Bytes::from(fixed))
}

/// A batch's byte range and the maxTimestamp its header must carry.
type Correction = (std::ops::Range<usize>, TimestampMs);

/// Walks the records of every compressed batch in `records`, yielding
/// between pieces, and returns the CreateTime batches whose header
/// maxTimestamp is not their records' largest. An uncompressed batch is
/// walked by the engine's append validation; here only when its header
/// maxTimestamp is below its base timestamp (a client that never set it),
/// to find the value. Errors in the batches themselves (framing, CRC) are
/// left to the engine's append, which reports them the same way.
async fn validate(
    records: &[u8],
    inflated_bytes_max: usize,
) -> Result<Vec<Correction>, BatchError> {
    let mut corrections = Vec::new();
    let mut start = 0;
    // Headers only: the engine's append checks every batch's CRC and walks
    // uncompressed records; walking them here too would cost the hot path
    // a second pass. A compressed batch is parsed whole (its CRC first, so
    // a corrupt one is CORRUPT_MESSAGE, not whatever inflating it gives).
    while let Some(header) = RecordBatch::parse_header_only(&records[start..]) {
        let range = start..start + header.size();
        start = range.end;
        let batch = if header.compression() != Compression::None {
            match RecordBatch::parse(&records[range.clone()], Validation::Client) {
                Ok(batch) => batch,
                Err(_) => break,
            }
        } else {
            header
        };
        let create_time = batch.timestamp_type() == TimestampType::CreateTime;
        let timestamp_max = if batch.compression() != Compression::None {
            let mut validator = BatchValidator::new(batch, inflated_bytes_max)?;
            loop {
                match validator.step(engine::limits::INFLATE_PIECE_BYTES)? {
                    Step::Done(summary) => break summary.timestamp_max,
                    Step::Pending => shard::yield_if_needed().await,
                }
            }
        } else if create_time && batch.max_timestamp() < batch.base_timestamp() {
            let mut largest = TimestampMs(i64::MIN);
            for_each_record_timestamp(&batch, inflated_bytes_max, &mut |_, timestamp| {
                largest = largest.max(timestamp);
                std::ops::ControlFlow::Continue(())
            })?;
            largest
        } else {
            continue;
        };
        if create_time && batch.max_timestamp() != timestamp_max {
            corrections.push((range, timestamp_max));
        }
    }
    Ok(corrections)
}

/// The message format a Fetch version reads: magic 0 for v0-v1, 1 for
/// v2-v3, `None` (stored batches as they are) from v4.
pub fn fetch_magic(api_version: i16) -> Option<i8> {
    match api_version {
        0 | 1 => Some(0),
        2 | 3 => Some(1),
        _ => None,
    }
}

/// Down-converts stored batches (the last may be cut short) for an old
/// fetcher; `output_bytes_max` is the partition's fetch size. Runs on the
/// calling thread: call it on the blocking pool.
pub fn down_convert(
    stored: &[u8],
    magic: i8,
    max_message_bytes: usize,
    output_bytes_max: usize,
) -> Result<Vec<u8>, BatchError> {
    let inflated_bytes_max = engine::limits::batch_inflated_bytes_max(max_message_bytes);
    // Fetch v0-v3 read uncommitted data; no transactions are stored yet.
    let aborted: [AbortedTransaction; 0] = [];
    legacy::down_convert(
        stored,
        magic,
        inflated_bytes_max,
        &aborted,
        output_bytes_max,
    )
    .map(|converted| converted.message_set)
}
