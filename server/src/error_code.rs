//! The one mapping from engine errors to Kafka error codes. Handlers never
//! pick a code for an engine error themselves.

use engine::{BatchError, Error, ProducerError};
use kafka_protocol::ResponseError;

pub const NONE: i16 = 0;

/// The error code and message of an admin result, as responses carry them.
pub fn code_and_message(
    result: Result<(), (ResponseError, String)>,
) -> (i16, Option<kafka_protocol::protocol::StrBytes>) {
    match result {
        Ok(()) => (NONE, None),
        Err((error, message)) => (
            error.code(),
            Some(kafka_protocol::protocol::StrBytes::from_string(message)),
        ),
    }
}

pub fn for_engine(error: &Error) -> ResponseError {
    match error {
        Error::Batch(batch) => for_batch(batch),
        Error::Producer(producer) => match producer {
            ProducerError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
            ProducerError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
            ProducerError::UnknownProducerId { .. } => ResponseError::UnknownProducerId,
        },
        Error::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        // A full disk is KAFKA_STORAGE_ERROR too: retriable, and what Kafka
        // answers when a log directory cannot take the write.
        Error::Io(_) | Error::Offline(_) | Error::DiskFull(_) | Error::Corrupt { .. } => {
            ResponseError::KafkaStorageError
        }
        Error::Closed => ResponseError::NotLeaderOrFollower,
        Error::Config { .. } => ResponseError::InvalidConfig,
    }
}

pub fn for_batch(error: &BatchError) -> ResponseError {
    match error {
        BatchError::TooLarge { .. } => ResponseError::MessageTooLarge,
        BatchError::CrcMismatch { .. }
        | BatchError::Truncated { .. }
        | BatchError::BatchLengthInvalid { .. }
        | BatchError::BaseOffsetInvalid { .. }
        | BatchError::DecompressionFailed { .. }
        | BatchError::LegacyMessageMalformed { .. }
        | BatchError::LegacyCrcMismatch { .. } => ResponseError::CorruptMessage,
        // The Java producer splits a batch and retries on MESSAGE_TOO_LARGE.
        BatchError::InflatedTooLarge { .. } => ResponseError::MessageTooLarge,
        BatchError::CompressionUnsupportedForMagic { .. } => {
            ResponseError::UnsupportedCompressionType
        }
        BatchError::UnsupportedMagic { .. } => ResponseError::UnsupportedForMessageFormat,
        BatchError::TimestampOutOfRange { .. } => ResponseError::InvalidTimestamp,
        BatchError::CompressionInvalid { .. }
        | BatchError::RecordCountInvalid { .. }
        | BatchError::RecordMalformed { .. }
        | BatchError::LegacyMessageSetInvalid { .. }
        | BatchError::TransactionalUnsupported
        | BatchError::Empty => ResponseError::InvalidRecord,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_kafkas_codes() {
        let crc = Error::Batch(BatchError::CrcMismatch {
            base_offset: 0,
            expected: 1,
            actual: 2,
        });
        assert_eq!(for_engine(&crc).code(), 2);
        let large = Error::Batch(BatchError::TooLarge { bytes: 2, max: 1 });
        assert_eq!(for_engine(&large).code(), 10);
        let range = Error::OffsetOutOfRange {
            requested: engine::Offset(5),
            log_start_offset: engine::Offset(0),
            log_end_offset: engine::Offset(1),
        };
        assert_eq!(for_engine(&range).code(), 1);
        let io = engine::IoError::new(
            "writing",
            "/data/t-0/00000000000000000000.log",
            &std::io::Error::from_raw_os_error(28),
        );
        assert_eq!(for_engine(&Error::DiskFull(io.clone())).code(), 56);
        assert_eq!(for_engine(&Error::Offline(io)).code(), 56);
        assert_eq!(
            for_batch(&BatchError::RecordCountInvalid {
                count: 2,
                last_offset_delta: 0
            })
            .code(),
            87
        );
        // The new batch errors (record_batch/validate.rs, legacy.rs).
        let compression = engine::record_batch::Compression::Gzip;
        for (error, code) in [
            (
                BatchError::DecompressionFailed {
                    compression,
                    reason: String::new(),
                },
                2,
            ),
            (
                BatchError::InflatedTooLarge {
                    compression,
                    max: 1,
                },
                10,
            ),
            (
                BatchError::CompressionUnsupportedForMagic {
                    compression: engine::record_batch::Compression::Zstd,
                    magic: 1,
                },
                76,
            ),
            (
                BatchError::LegacyMessageMalformed {
                    offset: 0,
                    reason: "",
                },
                2,
            ),
            (
                BatchError::LegacyCrcMismatch {
                    offset: 0,
                    expected: 1,
                    actual: 2,
                },
                2,
            ),
            (BatchError::LegacyMessageSetInvalid { reason: "" }, 87),
        ] {
            assert_eq!(for_batch(&error).code(), code, "{error:?}");
        }
    }
}
