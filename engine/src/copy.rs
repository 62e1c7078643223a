//! Copying large appends into the tail's chunks with non-temporal stores.
//!
//! A tail chunk is written once by the append and then read by the disk's
//! DMA (and by tailing readers, rarely that soon). Ordinary stores first
//! read each destination line into the cache (read for ownership) and
//! evict other lines to make room; streaming stores write around the cache.

/// Below this a plain copy: the fence and the alignment prologue cost more
/// than they save, and a small append's bytes are read back soon.
const STREAMING_COPY_BYTES_MIN: usize = 64 * 1024;

/// Copies `src` into `dst` (the same length).
pub(crate) fn copy_to_chunk(dst: &mut [u8], src: &[u8]) {
    assert_eq!(dst.len(), src.len(), "copy of equal lengths");
    #[cfg(target_arch = "x86_64")]
    if src.len() >= STREAMING_COPY_BYTES_MIN && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present (checked above).
        unsafe { copy_streaming_avx2(dst, src) };
        return;
    }
    dst.copy_from_slice(src);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn copy_streaming_avx2(dst: &mut [u8], src: &[u8]) {
    use std::arch::x86_64::{__m256i, _mm256_loadu_si256, _mm256_stream_si256, _mm_sfence};
    const LANE: usize = 32;
    // Plain copy up to the destination's first 32-byte boundary.
    let head = dst.as_ptr().align_offset(LANE).min(dst.len());
    dst[..head].copy_from_slice(&src[..head]);
    let lanes = (dst.len() - head) / LANE;
    let dst_lanes = dst[head..].as_mut_ptr() as *mut __m256i;
    let src_lanes = src[head..].as_ptr() as *const __m256i;
    for lane in 0..lanes {
        // SAFETY: `lane < lanes`, so both 32-byte ranges are inside the
        // slices; the destination is 32-byte aligned (the prologue), loads
        // are unaligned.
        unsafe {
            let value = _mm256_loadu_si256(src_lanes.add(lane));
            _mm256_stream_si256(dst_lanes.add(lane), value);
        }
    }
    let done = head + lanes * LANE;
    dst[done..].copy_from_slice(&src[done..]);
    // Streaming stores are weakly ordered: make them visible before the
    // buffer is handed to a write or a reader.
    _mm_sfence();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length around the threshold and every destination misalignment
    /// within a lane copies exactly the source, and nothing outside the range.
    #[test]
    fn streaming_copies_are_exact_at_any_alignment_and_length() {
        let source: Vec<u8> = (0..STREAMING_COPY_BYTES_MIN * 3)
            .map(|i| (i * 7 % 253) as u8)
            .collect();
        for len in [
            0,
            1,
            31,
            STREAMING_COPY_BYTES_MIN - 1,
            STREAMING_COPY_BYTES_MIN,
            STREAMING_COPY_BYTES_MIN + 33,
            STREAMING_COPY_BYTES_MIN * 2 + 5,
        ] {
            for misalign in 0..33 {
                for source_shift in [0, 3] {
                    let src = &source[source_shift..source_shift + len];
                    let mut target = vec![0xAAu8; len + 128];
                    let start = 64 - (target.as_ptr() as usize % 64) + misalign;
                    copy_to_chunk(&mut target[start..start + len], src);
                    assert_eq!(&target[start..start + len], src, "len {len} at +{misalign}");
                    assert!(target[..start].iter().all(|byte| *byte == 0xAA));
                    assert!(target[start + len..].iter().all(|byte| *byte == 0xAA));
                }
            }
        }
    }
}
