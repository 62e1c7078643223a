//! The records of the offsets log (`__consumer_offsets-<p>`): how a
//! committed offset, a group's metadata and a snapshot marker are encoded as
//! a record key and value.
//!
//! Offset and group records use Kafka's own `__consumer_offsets` schemas, so
//! a tool that reads Kafka's internal topic reads ours. Every field is
//! big-endian; `string` is an i16 length and UTF-8 bytes (-1: null, only
//! where marked nullable); `bytes` is an i32 length and the bytes.
//!
//! ```text
//! key, first field = key version (the record's kind):
//!   1    OffsetCommitKey       version i16 | group string | topic string | partition i32
//!   2    GroupMetadataKey      version i16 | group string
//!   100  SnapshotBeginKey      version i16                  (Ringlog's own)
//!   101  SnapshotEndKey        version i16                  (Ringlog's own)
//!
//! value, first field = value version; a null value is a tombstone:
//!   OffsetCommitValue v3     version i16 | offset i64 | leader_epoch i32 |
//!                            metadata string | commit_timestamp i64
//!   GroupMetadataValue v3    version i16 | protocol_type string | generation i32 |
//!                            protocol nullable string | leader nullable string |
//!                            current_state_timestamp i64 | members i32 count, each:
//!       member_id string | group_instance_id nullable string | client_id string |
//!       client_host string | rebalance_timeout i32 | session_timeout i32 |
//!       subscription bytes | assignment bytes
//!   SnapshotBeginValue v0    version i16 | groups i32 | offsets i32
//!   SnapshotEndValue v0      version i16 | begin_offset i64
//! ```
//!
//! An offset tombstone deletes one committed offset; a group tombstone
//! deletes the group (its offsets have their own tombstones). Decoding checks
//! every length against the bytes in hand and consumes the value exactly.

use bytes::Bytes;

pub const OFFSET_KEY_VERSION: i16 = 1;
pub const GROUP_KEY_VERSION: i16 = 2;
pub const SNAPSHOT_BEGIN_KEY_VERSION: i16 = 100;
pub const SNAPSHOT_END_KEY_VERSION: i16 = 101;

pub const OFFSET_VALUE_VERSION: i16 = 3;
pub const GROUP_VALUE_VERSION: i16 = 3;
pub const SNAPSHOT_VALUE_VERSION: i16 = 0;

/// A committed offset as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
}

/// A member as stored with its group's metadata: the subscription for the
/// group's selected protocol and the assignment the leader gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A group's metadata as stored after a completed rebalance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    pub state_timestamp_ms: i64,
    pub members: Vec<MemberValue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogRecord {
    /// `value: None` is a tombstone.
    Offset {
        group_id: String,
        topic: String,
        partition: i32,
        value: Option<OffsetValue>,
    },
    /// `value: None` is a tombstone.
    Group {
        group_id: String,
        value: Option<GroupValue>,
    },
    SnapshotBegin {
        groups: i32,
        offsets: i32,
    },
    SnapshotEnd {
        begin_offset: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("{what} is cut short")]
    Truncated { what: &'static str },
    #[error("{what} is not UTF-8")]
    NotUtf8 { what: &'static str },
    #[error("unknown key version {version}")]
    UnknownKeyVersion { version: i16 },
    #[error("unknown {what} value version {version}")]
    UnknownValueVersion { what: &'static str, version: i16 },
    #[error("{what} must not be null")]
    Null { what: &'static str },
    #[error("{count} {what} do not fit in {remaining} bytes")]
    CountInvalid {
        what: &'static str,
        count: i32,
        remaining: usize,
    },
    #[error("{bytes} bytes left over after the {what}")]
    Trailing { what: &'static str, bytes: usize },
}

impl LogRecord {
    /// The record's key and value (None for a tombstone or a marker without one).
    pub fn encode(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        let mut key = Vec::new();
        match self {
            LogRecord::Offset {
                group_id,
                topic,
                partition,
                value,
            } => {
                put_i16(&mut key, OFFSET_KEY_VERSION);
                put_string(&mut key, group_id);
                put_string(&mut key, topic);
                put_i32(&mut key, *partition);
                (key, value.as_ref().map(encode_offset_value))
            }
            LogRecord::Group { group_id, value } => {
                put_i16(&mut key, GROUP_KEY_VERSION);
                put_string(&mut key, group_id);
                (key, value.as_ref().map(encode_group_value))
            }
            LogRecord::SnapshotBegin { groups, offsets } => {
                put_i16(&mut key, SNAPSHOT_BEGIN_KEY_VERSION);
                let mut value = Vec::with_capacity(10);
                put_i16(&mut value, SNAPSHOT_VALUE_VERSION);
                put_i32(&mut value, *groups);
                put_i32(&mut value, *offsets);
                (key, Some(value))
            }
            LogRecord::SnapshotEnd { begin_offset } => {
                put_i16(&mut key, SNAPSHOT_END_KEY_VERSION);
                let mut value = Vec::with_capacity(10);
                put_i16(&mut value, SNAPSHOT_VALUE_VERSION);
                put_i64(&mut value, *begin_offset);
                (key, Some(value))
            }
        }
    }

    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<LogRecord, RecordError> {
        let mut key = Reader::new(key);
        let version = key.i16("key version")?;
        let record = match version {
            0 | OFFSET_KEY_VERSION => {
                let group_id = key.string("group id")?;
                let topic = key.string("topic")?;
                let partition = key.i32("partition")?;
                let value = value.map(decode_offset_value).transpose()?;
                LogRecord::Offset {
                    group_id,
                    topic,
                    partition,
                    value,
                }
            }
            GROUP_KEY_VERSION => {
                let group_id = key.string("group id")?;
                let value = value.map(decode_group_value).transpose()?;
                LogRecord::Group { group_id, value }
            }
            SNAPSHOT_BEGIN_KEY_VERSION => {
                let mut value = snapshot_value(value, "snapshot begin")?;
                let groups = value.i32("snapshot group count")?;
                let offsets = value.i32("snapshot offset count")?;
                value.finish("snapshot begin")?;
                LogRecord::SnapshotBegin { groups, offsets }
            }
            SNAPSHOT_END_KEY_VERSION => {
                let mut value = snapshot_value(value, "snapshot end")?;
                let begin_offset = value.i64("snapshot begin offset")?;
                value.finish("snapshot end")?;
                LogRecord::SnapshotEnd { begin_offset }
            }
            version => return Err(RecordError::UnknownKeyVersion { version }),
        };
        key.finish("key")?;
        Ok(record)
    }
}

fn snapshot_value<'a>(
    value: Option<&'a [u8]>,
    what: &'static str,
) -> Result<Reader<'a>, RecordError> {
    let mut reader = Reader::new(value.ok_or(RecordError::Null { what })?);
    let version = reader.i16(what)?;
    if version != SNAPSHOT_VALUE_VERSION {
        return Err(RecordError::UnknownValueVersion { what, version });
    }
    Ok(reader)
}

fn encode_offset_value(value: &OffsetValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(26 + value.metadata.len());
    put_i16(&mut out, OFFSET_VALUE_VERSION);
    put_i64(&mut out, value.offset);
    put_i32(&mut out, value.leader_epoch);
    put_string(&mut out, &value.metadata);
    put_i64(&mut out, value.commit_timestamp_ms);
    out
}

fn decode_offset_value(bytes: &[u8]) -> Result<OffsetValue, RecordError> {
    let mut value = Reader::new(bytes);
    let version = value.i16("offset value version")?;
    if version != OFFSET_VALUE_VERSION {
        return Err(RecordError::UnknownValueVersion {
            what: "offset",
            version,
        });
    }
    let decoded = OffsetValue {
        offset: value.i64("offset")?,
        leader_epoch: value.i32("leader epoch")?,
        metadata: value.string("offset metadata")?,
        commit_timestamp_ms: value.i64("commit timestamp")?,
    };
    value.finish("offset value")?;
    Ok(decoded)
}

fn encode_group_value(value: &GroupValue) -> Vec<u8> {
    let mut out = Vec::new();
    put_i16(&mut out, GROUP_VALUE_VERSION);
    put_string(&mut out, &value.protocol_type);
    put_i32(&mut out, value.generation_id);
    put_nullable_string(&mut out, value.protocol_name.as_deref());
    put_nullable_string(&mut out, value.leader_id.as_deref());
    put_i64(&mut out, value.state_timestamp_ms);
    put_i32(&mut out, value.members.len() as i32);
    for member in &value.members {
        put_string(&mut out, &member.member_id);
        put_nullable_string(&mut out, member.group_instance_id.as_deref());
        put_string(&mut out, &member.client_id);
        put_string(&mut out, &member.client_host);
        put_i32(&mut out, member.rebalance_timeout_ms);
        put_i32(&mut out, member.session_timeout_ms);
        put_bytes(&mut out, &member.subscription);
        put_bytes(&mut out, &member.assignment);
    }
    out
}

/// The smallest encoded member: four empty strings, a null, two i32 and
/// two empty byte arrays.
const MEMBER_BYTES_MIN: usize = 2 * 4 + 2 + 4 * 2 + 4 * 2;

fn decode_group_value(bytes: &[u8]) -> Result<GroupValue, RecordError> {
    let mut value = Reader::new(bytes);
    let version = value.i16("group value version")?;
    if version != GROUP_VALUE_VERSION {
        return Err(RecordError::UnknownValueVersion {
            what: "group",
            version,
        });
    }
    let protocol_type = value.string("protocol type")?;
    let generation_id = value.i32("generation")?;
    let protocol_name = value.nullable_string("protocol")?;
    let leader_id = value.nullable_string("leader")?;
    let state_timestamp_ms = value.i64("state timestamp")?;
    let count = value.i32("member count")?;
    if count < 0 || count as usize > value.remaining() / MEMBER_BYTES_MIN {
        return Err(RecordError::CountInvalid {
            what: "members",
            count,
            remaining: value.remaining(),
        });
    }
    let mut members = Vec::with_capacity(count as usize);
    for _ in 0..count {
        members.push(MemberValue {
            member_id: value.string("member id")?,
            group_instance_id: value.nullable_string("group instance id")?,
            client_id: value.string("client id")?,
            client_host: value.string("client host")?,
            rebalance_timeout_ms: value.i32("rebalance timeout")?,
            session_timeout_ms: value.i32("session timeout")?,
            subscription: value.bytes("subscription")?,
            assignment: value.bytes("assignment")?,
        });
    }
    value.finish("group value")?;
    Ok(GroupValue {
        protocol_type,
        generation_id,
        protocol_name,
        leader_id,
        state_timestamp_ms,
        members,
    })
}

fn put_i16(out: &mut Vec<u8>, value: i16) {
    out.extend_from_slice(&value.to_be_bytes());
}

fn put_i32(out: &mut Vec<u8>, value: i32) {
    out.extend_from_slice(&value.to_be_bytes());
}

fn put_i64(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Strings longer than i16::MAX bytes are cut at a character boundary;
/// callers bound ids and metadata well below that (see `limits.rs`).
fn put_string(out: &mut Vec<u8>, value: &str) {
    let mut end = value.len().min(i16::MAX as usize);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    put_i16(out, end as i16);
    out.extend_from_slice(&value.as_bytes()[..end]);
}

fn put_nullable_string(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => put_i16(out, -1),
        Some(value) => put_string(out, value),
    }
}

fn put_bytes(out: &mut Vec<u8>, value: &[u8]) {
    put_i32(out, value.len() as i32);
    out.extend_from_slice(value);
}

/// A bounds-checked cursor over a key or value.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    fn remaining(&self) -> usize {
        self.bytes.len()
    }

    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], RecordError> {
        if self.bytes.len() < len {
            return Err(RecordError::Truncated { what });
        }
        let (head, tail) = self.bytes.split_at(len);
        self.bytes = tail;
        Ok(head)
    }

    fn i16(&mut self, what: &'static str) -> Result<i16, RecordError> {
        let bytes = self.take(2, what)?;
        Ok(i16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, RecordError> {
        let bytes = self.take(4, what)?;
        Ok(i32::from_be_bytes(bytes.try_into().expect("4 bytes")))
    }

    fn i64(&mut self, what: &'static str) -> Result<i64, RecordError> {
        let bytes = self.take(8, what)?;
        Ok(i64::from_be_bytes(bytes.try_into().expect("8 bytes")))
    }

    fn nullable_string(&mut self, what: &'static str) -> Result<Option<String>, RecordError> {
        let len = self.i16(what)?;
        if len < 0 {
            return Ok(None);
        }
        let bytes = self.take(len as usize, what)?;
        let text = std::str::from_utf8(bytes).map_err(|_| RecordError::NotUtf8 { what })?;
        Ok(Some(text.to_string()))
    }

    fn string(&mut self, what: &'static str) -> Result<String, RecordError> {
        self.nullable_string(what)?
            .ok_or(RecordError::Null { what })
    }

    fn bytes(&mut self, what: &'static str) -> Result<Bytes, RecordError> {
        let len = self.i32(what)?;
        if len < 0 {
            return Err(RecordError::Null { what });
        }
        Ok(Bytes::copy_from_slice(self.take(len as usize, what)?))
    }

    fn finish(&self, what: &'static str) -> Result<(), RecordError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(RecordError::Trailing {
                what,
                bytes: self.bytes.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(record: LogRecord) {
        let (key, value) = record.encode();
        assert_eq!(LogRecord::decode(&key, value.as_deref()).unwrap(), record);
    }

    #[test]
    fn offset_record_golden_bytes() {
        let record = LogRecord::Offset {
            group_id: "g".into(),
            topic: "t".into(),
            partition: 3,
            value: Some(OffsetValue {
                offset: 42,
                leader_epoch: -1,
                metadata: "m".into(),
                commit_timestamp_ms: 7,
            }),
        };
        let (key, value) = record.encode();
        #[rustfmt::skip]
        let expected_key = [
            0, 1,          // key version 1: OffsetCommitKey
            0, 1, b'g',    // group
            0, 1, b't',    // topic
            0, 0, 0, 3,    // partition
        ];
        assert_eq!(key, expected_key);
        #[rustfmt::skip]
        let expected_value = [
            0, 3,                      // value version 3
            0, 0, 0, 0, 0, 0, 0, 42,   // offset
            0xff, 0xff, 0xff, 0xff,    // leader epoch -1
            0, 1, b'm',                // metadata
            0, 0, 0, 0, 0, 0, 0, 7,    // commit timestamp
        ];
        assert_eq!(value.unwrap(), expected_value);
        round_trip(record);
    }

    #[test]
    fn every_kind_round_trips() {
        round_trip(LogRecord::Offset {
            group_id: "group".into(),
            topic: "topic".into(),
            partition: 0,
            value: None,
        });
        round_trip(LogRecord::Group {
            group_id: "group".into(),
            value: None,
        });
        round_trip(LogRecord::Group {
            group_id: "group".into(),
            value: Some(GroupValue {
                protocol_type: "consumer".into(),
                generation_id: 5,
                protocol_name: Some("range".into()),
                leader_id: Some("m-1".into()),
                state_timestamp_ms: 1234,
                members: vec![
                    MemberValue {
                        member_id: "m-1".into(),
                        group_instance_id: None,
                        client_id: "c".into(),
                        client_host: "/127.0.0.1".into(),
                        rebalance_timeout_ms: 300_000,
                        session_timeout_ms: 45_000,
                        subscription: Bytes::from_static(b"sub"),
                        assignment: Bytes::from_static(b"assign"),
                    },
                    MemberValue {
                        member_id: "m-2".into(),
                        group_instance_id: Some("i-2".into()),
                        client_id: String::new(),
                        client_host: String::new(),
                        rebalance_timeout_ms: 1,
                        session_timeout_ms: 2,
                        subscription: Bytes::new(),
                        assignment: Bytes::new(),
                    },
                ],
            }),
        });
        round_trip(LogRecord::Group {
            group_id: "simple".into(),
            value: Some(GroupValue {
                protocol_type: String::new(),
                generation_id: 0,
                protocol_name: None,
                leader_id: None,
                state_timestamp_ms: 0,
                members: Vec::new(),
            }),
        });
        round_trip(LogRecord::SnapshotBegin {
            groups: 3,
            offsets: 9,
        });
        round_trip(LogRecord::SnapshotEnd { begin_offset: 77 });
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        let (key, value) = LogRecord::Group {
            group_id: "g".into(),
            value: Some(GroupValue {
                protocol_type: "consumer".into(),
                generation_id: 1,
                protocol_name: None,
                leader_id: None,
                state_timestamp_ms: 0,
                members: Vec::new(),
            }),
        }
        .encode();
        let value = value.unwrap();
        for cut in 0..value.len() {
            assert!(LogRecord::decode(&key, Some(&value[..cut])).is_err());
        }
        for cut in 0..key.len() {
            assert!(LogRecord::decode(&key[..cut], Some(&value)).is_err());
        }
        let mut lying = value.clone();
        let count_at = lying.len() - 4;
        lying[count_at..].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(
            LogRecord::decode(&key, Some(&lying)),
            Err(RecordError::CountInvalid { .. })
        ));
        let mut trailing = value;
        trailing.push(0);
        assert!(matches!(
            LogRecord::decode(&key, Some(&trailing)),
            Err(RecordError::Trailing { .. })
        ));
        assert_eq!(
            LogRecord::decode(&[0, 9], None),
            Err(RecordError::UnknownKeyVersion { version: 9 })
        );
    }
}
