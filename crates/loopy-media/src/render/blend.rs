//! Cross-fade arithmetic on YUV planes: out = a·(1−w) + b·w in 8-bit fixed point,
//! written into `b`'s buffers. Y, U and V blend alike; nothing is converted to RGB.

use ffmpeg_next::frame::Video;

/// Weight of the incoming clip for frame `j` (0-based) of a `crossfade`-frame fade,
/// in 1/256ths: (j+1)/(crossfade+1), so neither end repeats a source frame exactly.
pub fn incoming_weight(j: u64, crossfade: u64) -> u16 {
    (((j + 1) * 512 + (crossfade + 1)) / (2 * (crossfade + 1))) as u16
}

/// Blends `outgoing` into `incoming` (both yuv420p, same size; `incoming` writable).
pub fn blend_into(incoming: &mut Video, outgoing: &Video, weight: u16) {
    let w = weight as u32;
    for plane in 0..3 {
        let (rows, cols) = (
            incoming.plane_height(plane) as usize,
            incoming.plane_width(plane) as usize,
        );
        let (a_stride, b_stride) = (outgoing.stride(plane), incoming.stride(plane));
        let a_data = outgoing.data(plane);
        let b_data = incoming.data_mut(plane);
        for row in 0..rows {
            let a = &a_data[row * a_stride..row * a_stride + cols];
            let b = &mut b_data[row * b_stride..row * b_stride + cols];
            for (bv, &av) in b.iter_mut().zip(a) {
                *bv = ((av as u32 * (256 - w) + *bv as u32 * w + 128) >> 8) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ffmpeg_next::format::Pixel;

    #[test]
    fn weights_rise_evenly_and_the_middle_is_half() {
        assert_eq!(incoming_weight(0, 1), 128);
        assert_eq!(incoming_weight(4, 9), 128);
        let w: Vec<u16> = (0..9).map(|j| incoming_weight(j, 9)).collect();
        assert!(
            w.windows(2).all(|p| p[0] < p[1]) && w[0] > 0 && w[8] < 256,
            "{w:?}"
        );
    }

    #[test]
    fn half_blend_is_the_average() {
        crate::init(false);
        let mut a = Video::new(Pixel::YUV420P, 16, 8);
        let mut b = Video::new(Pixel::YUV420P, 16, 8);
        for p in 0..3 {
            a.data_mut(p).fill(200);
            b.data_mut(p).fill(100);
        }
        blend_into(&mut b, &a, 128);
        for p in 0..3 {
            let (w, stride) = (b.plane_width(p) as usize, b.stride(p));
            for row in 0..b.plane_height(p) as usize {
                assert!(
                    b.data(p)[row * stride..row * stride + w]
                        .iter()
                        .all(|&v| v == 150),
                    "plane {p} row {row}"
                );
            }
        }
    }
}
