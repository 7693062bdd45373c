//! Frame signatures: a tiny fingerprint of one decoded frame, small enough to keep
//! for thousands of clips, rich enough to tell whether a cut between two frames shows.
//!
//! A signature is a 32×18 luma thumbnail (the layout of the picture) plus an 8-bin
//! histogram for each of Y, U and V (its overall colour). The distance mixes both so
//! that two frames of the same layout but a different colour still count as far apart.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Thumbnail width in pixels.
pub const THUMB_W: usize = 32;
/// Thumbnail height in pixels.
pub const THUMB_H: usize = 18;
/// Bins per channel of the colour histogram.
pub const HIST_BINS: usize = 8;

/// Distances at or below this between a clip's last and first frame count as a
/// seamless loop. Two consecutive frames of ordinary footage score about 0.005–0.04;
/// a visible jump (another pose, another colour) scores 0.08 and more.
pub const SEAMLESS_THRESHOLD: f64 = 0.05;

/// Weight of the luma-layout term in [`Signature::distance`]; the histogram term gets the rest.
const LAYOUT_WEIGHT: f64 = 0.7;

/// The fingerprint of one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    /// 32×18 luma samples, row by row, stored as hex in JSON.
    #[serde(serialize_with = "to_hex", deserialize_with = "from_hex")]
    pub luma: Vec<u8>,
    /// Y, U, V histograms of 8 bins each, every channel summing to 1.
    pub hist: Vec<f32>,
}

impl Signature {
    /// Builds a signature from a frame already scaled to 32×18 in planar YUV 4:4:4.
    /// Each plane is given with its line stride, as decoders hand them out.
    pub fn from_yuv444(planes: [(&[u8], usize); 3]) -> Option<Self> {
        let mut luma = Vec::with_capacity(THUMB_W * THUMB_H);
        let mut hist = vec![0f32; 3 * HIST_BINS];
        for (channel, (data, stride)) in planes.iter().enumerate() {
            for row in 0..THUMB_H {
                let line = data.get(row * stride..row * stride + THUMB_W)?;
                if channel == 0 {
                    luma.extend_from_slice(line);
                }
                for &v in line {
                    hist[channel * HIST_BINS + (v as usize * HIST_BINS / 256)] += 1.0;
                }
            }
        }
        let n = (THUMB_W * THUMB_H) as f32;
        hist.iter_mut().for_each(|h| *h /= n);
        Some(Self { luma, hist })
    }

    /// How different two frames look, from 0 (identical) to 1 (as different as can be).
    /// The layout term is the root-mean-square luma difference, so that one region
    /// that jumps (a head that moved) weighs more than the same change spread thinly.
    pub fn distance(&self, other: &Signature) -> f64 {
        let squares: u32 = self
            .luma
            .iter()
            .zip(&other.luma)
            .map(|(&a, &b)| {
                let d = a.abs_diff(b) as u32;
                d * d
            })
            .sum();
        let layout = (squares as f64 / self.luma.len().max(1) as f64).sqrt() / 255.0;
        let colour: f32 = self
            .hist
            .iter()
            .zip(&other.hist)
            .map(|(a, b)| (a - b).abs())
            .sum();
        // Each channel's L1 distance is at most 2, three channels make 6.
        LAYOUT_WEIGHT * layout + (1.0 - LAYOUT_WEIGHT) * (colour as f64 / 6.0)
    }
}

pub(crate) fn to_hex<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    s.serialize_str(&out)
}

pub(crate) fn from_hex<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    if text.len() % 2 != 0 {
        return Err(serde::de::Error::custom("odd number of hex digits"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(y: u8, u: u8, v: u8) -> Signature {
        let plane = |val| vec![val; THUMB_W * THUMB_H];
        let (py, pu, pv) = (plane(y), plane(u), plane(v));
        Signature::from_yuv444([(&py, THUMB_W), (&pu, THUMB_W), (&pv, THUMB_W)]).unwrap()
    }

    #[test]
    fn identical_frames_are_at_zero() {
        assert_eq!(flat(10, 20, 30).distance(&flat(10, 20, 30)), 0.0);
    }

    #[test]
    fn black_and_white_are_far_apart() {
        let d = flat(0, 128, 128).distance(&flat(255, 128, 128));
        assert!(d >= 0.79, "{d}");
        assert!(d <= 1.0);
    }

    #[test]
    fn slightly_brighter_is_seamless_but_another_colour_is_not() {
        let base = flat(100, 128, 128);
        assert!(base.distance(&flat(102, 128, 128)) < SEAMLESS_THRESHOLD);
        assert!(base.distance(&flat(100, 60, 200)) > SEAMLESS_THRESHOLD);
    }

    #[test]
    fn survives_a_json_round_trip() {
        let sig = flat(1, 2, 254);
        let json = serde_json::to_string(&sig).unwrap();
        assert_eq!(serde_json::from_str::<Signature>(&json).unwrap(), sig);
    }

    #[test]
    fn short_planes_are_refused() {
        let tiny = [0u8; 10];
        assert!(Signature::from_yuv444([(&tiny, 32), (&tiny, 32), (&tiny, 32)]).is_none());
    }
}
