//! The 61-byte record batch v2 header, read in place with `zerocopy`.
//!
//! ```text
//! offset  size  field                  covered by CRC
//!      0     8  baseOffset             no  (rewritten on append)
//!      8     4  batchLength            no  (bytes after this field)
//!     12     4  partitionLeaderEpoch   no  (rewritten on append)
//!     16     1  magic (= 2)            no
//!     17     4  crc (CRC-32C)          no
//!     21     2  attributes             yes
//!     23     4  lastOffsetDelta        yes
//!     27     8  baseTimestamp          yes
//!     35     8  maxTimestamp           yes
//!     43     8  producerId             yes
//!     51     2  producerEpoch          yes
//!     53     4  baseSequence           yes
//!     57     4  recordsCount           yes
//!     61     …  records                yes
//! ```

use zerocopy::byteorder::big_endian::{I16, I32, I64, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::limits::BATCH_HEADER_BYTES;

/// Where the CRC-covered bytes start.
pub const CRC_START_BYTES: usize = 21;

/// Attributes bits 0-2: the compression codec.
pub const ATTRIBUTE_COMPRESSION_MASK: i16 = 0x07;
/// Attributes bit 3: 1 = LogAppendTime, 0 = CreateTime.
pub const ATTRIBUTE_LOG_APPEND_TIME: i16 = 0x08;
/// Attributes bit 4: part of a transaction.
pub const ATTRIBUTE_TRANSACTIONAL: i16 = 0x10;
/// Attributes bit 5: a control batch (transaction marker).
pub const ATTRIBUTE_CONTROL: i16 = 0x20;

#[derive(Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RecordBatchHeader {
    pub base_offset: I64,
    pub batch_length: I32,
    pub partition_leader_epoch: I32,
    pub magic: i8,
    pub crc: U32,
    pub attributes: I16,
    pub last_offset_delta: I32,
    pub base_timestamp: I64,
    pub max_timestamp: I64,
    pub producer_id: I64,
    pub producer_epoch: I16,
    pub base_sequence: I32,
    pub records_count: I32,
}

const _: () = assert!(std::mem::size_of::<RecordBatchHeader>() == BATCH_HEADER_BYTES);

/// The compression codec of a batch, from attributes bits 0-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn from_attributes(attributes: i16) -> Option<Compression> {
        match attributes & ATTRIBUTE_COMPRESSION_MASK {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }

    pub fn code(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }
}

/// How the broker stamps batch timestamps (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    #[default]
    CreateTime,
    LogAppendTime,
}
