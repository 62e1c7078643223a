//! Kafka's zig-zag varints (protobuf style), decoded without panics.

/// Decodes a zig-zag varint of at most `max_bytes` bytes from the front of
/// `bytes`; returns the value and how many bytes it took.
///
/// Validating a produced batch walks every record, six varints each, most
/// of one or two bytes (1 KB records: lengths and offset deltas of two,
/// the rest of one): those are decoded without the loop, which was 6% of
/// the broker's samples with 1 MiB batches.
#[inline]
fn decode(bytes: &[u8], max_bytes: usize) -> Option<(i64, usize)> {
    match *bytes {
        [first, ..] if first & 0x80 == 0 => Some((unzigzag(u64::from(first)), 1)),
        [first, second, ..] if second & 0x80 == 0 && max_bytes >= 2 => {
            let raw = u64::from(first & 0x7f) | u64::from(second) << 7;
            Some((unzigzag(raw), 2))
        }
        _ => decode_long(bytes, max_bytes),
    }
}

fn unzigzag(raw: u64) -> i64 {
    ((raw >> 1) as i64) ^ -((raw & 1) as i64)
}

/// [`decode`] for any length.
fn decode_long(bytes: &[u8], max_bytes: usize) -> Option<(i64, usize)> {
    let mut raw: u64 = 0;
    for (index, byte) in bytes.iter().take(max_bytes).enumerate() {
        raw |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Some((unzigzag(raw), index + 1));
        }
    }
    None
}

/// A varint that must fit in i32 (5 bytes at most).
#[inline]
pub fn decode_i32(bytes: &[u8]) -> Option<(i32, usize)> {
    // One or two bytes always fit.
    if let [first, ..] = *bytes {
        if first & 0x80 == 0 {
            return Some((unzigzag(u64::from(first)) as i32, 1));
        }
    }
    let (value, used) = decode(bytes, 5)?;
    let value = i32::try_from(value).ok()?;
    Some((value, used))
}

/// A varlong (10 bytes at most).
#[inline]
pub fn decode_i64(bytes: &[u8]) -> Option<(i64, usize)> {
    decode(bytes, 10)
}

/// Appends the zig-zag varint encoding of `value` to `out`.
pub fn encode_i64(value: i64, out: &mut Vec<u8>) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    loop {
        let byte = (raw & 0x7f) as u8;
        raw >>= 7;
        if raw == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_golden_bytes() {
        // Golden bytes from Kafka's ByteUtilsTest: zig-zag maps 0,-1,1,-2 to 0,1,2,3.
        for (value, bytes) in [
            (0i64, vec![0x00]),
            (-1, vec![0x01]),
            (1, vec![0x02]),
            (-2, vec![0x03]),
            (300, vec![0xd8, 0x04]),
            (i32::MAX as i64, vec![0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN as i64, vec![0xff, 0xff, 0xff, 0xff, 0x0f]),
        ] {
            let mut out = Vec::new();
            encode_i64(value, &mut out);
            assert_eq!(out, bytes, "encoding {value}");
            assert_eq!(decode_i64(&out), Some((value, bytes.len())));
            assert_eq!(decode_i32(&out), Some((value as i32, bytes.len())));
        }
    }

    /// The one- and two-byte shortcuts decode exactly what the loop does,
    /// for every first two bytes, whatever follows them.
    #[test]
    fn the_short_forms_agree_with_the_loop() {
        for first in 0..=255u8 {
            for second in 0..=255u8 {
                for tail in [&[][..], &[0x00][..], &[0x81, 0x01][..]] {
                    let bytes: Vec<u8> = [first, second].iter().chain(tail).copied().collect();
                    let long_i32 = decode_long(&bytes, 5)
                        .and_then(|(value, used)| Some((i32::try_from(value).ok()?, used)));
                    assert_eq!(decode_i32(&bytes), long_i32, "{bytes:02x?} as i32");
                    for max_bytes in [1, 2, 5, 10] {
                        assert_eq!(
                            decode(&bytes, max_bytes),
                            decode_long(&bytes, max_bytes),
                            "{bytes:02x?} within {max_bytes}"
                        );
                    }
                }
            }
            assert_eq!(decode(&[first], 5), decode_long(&[first], 5));
        }
    }

    #[test]
    fn rejects_overlong_and_truncated() {
        assert_eq!(decode_i32(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), None);
        assert_eq!(decode_i32(&[0x80]), None);
        assert_eq!(decode_i32(&[]), None);
        // Fits 5 bytes but not i32.
        assert_eq!(decode_i32(&[0xff, 0xff, 0xff, 0xff, 0x7f]), None);
        assert_eq!(decode_i64(&[0xff; 11]), None);
    }
}
