//! What a clip's stream says about how to show it — its display matrix (phone video is
//! stored sideways and turned by players) and its sample aspect ratio — and the
//! turning itself: decoded frames are brought to YUV 4:2:0 and turned upright, so
//! everything after (signatures, fit, scaling) sees the picture as players show it.

use ff::format::Pixel;
use ff::frame::Video;
use ffmpeg_next as ff;
use loopy_core::{Orientation, Rational};

/// The stream's orientation from its display matrix; identity when it has none, and
/// (with a warning) when the matrix is not a quarter turn or mirror.
pub fn stream_orientation(stream: &ff::format::stream::Stream, name: &str) -> Orientation {
    let matrix = stream
        .side_data()
        .find(|sd| sd.kind() == ff::codec::packet::side_data::Type::DisplayMatrix)
        .and_then(|sd| {
            let bytes = sd.data();
            (bytes.len() >= 36).then(|| {
                let mut m = [0i32; 9];
                for (i, v) in m.iter_mut().enumerate() {
                    let mut word = [0u8; 4];
                    word.copy_from_slice(&bytes[i * 4..i * 4 + 4]);
                    *v = i32::from_ne_bytes(word);
                }
                m
            })
        });
    match matrix {
        None => Orientation::IDENTITY,
        Some(m) => Orientation::from_display_matrix(&m).unwrap_or_else(|| {
            tracing::warn!(
                "{name}: its display matrix is not a quarter turn; the picture is used as stored"
            );
            Orientation::IDENTITY
        }),
    }
}

/// The sample aspect ratio FFmpeg would use for `frame` of `stream` (the container's,
/// else the codec's), in the stored orientation; 1 when unknown.
pub fn sample_aspect_ratio(
    input: &mut ff::format::context::Input,
    stream: usize,
    frame: &Video,
) -> Rational {
    // SAFETY: valid format context, stream index and frame; the call only reads them.
    let sar = unsafe {
        let ctx = input.as_mut_ptr();
        let streams = std::slice::from_raw_parts((*ctx).streams, (*ctx).nb_streams as usize);
        ff::ffi::av_guess_sample_aspect_ratio(ctx, streams[stream], frame.as_ptr() as *mut _)
    };
    match (u64::try_from(sar.num), u64::try_from(sar.den)) {
        (Ok(num), Ok(den)) => Rational::new(num, den)
            // Values beyond 100:1 are broken metadata, not pixels.
            .filter(|r| (0.01..=100.0).contains(&r.as_f64()))
            .unwrap_or(Rational::ONE),
        _ => Rational::ONE,
    }
}

/// Turns decoded frames upright, in YUV 4:2:0. Keeps its conversion context and its
/// two frames, so the steady state allocates nothing.
pub struct Orienter {
    orientation: Orientation,
    convert: Option<(ff::software::scaling::Context, (Pixel, u32, u32))>,
    converted: Video,
    turned: Video,
}

// SAFETY: the scaling context is used by one thread at a time (it moves with its stage).
unsafe impl Send for Orienter {}

impl Orienter {
    pub fn new(orientation: Orientation) -> Self {
        Orienter {
            orientation,
            convert: None,
            converted: Video::empty(),
            turned: Video::empty(),
        }
    }

    /// `frame` as displayed: YUV 4:2:0, turned and mirrored as its stream says.
    pub fn run<'a>(&'a mut self, frame: &'a Video) -> Result<&'a Video, String> {
        let source = if frame.format() == Pixel::YUV420P {
            frame
        } else {
            let key = (frame.format(), frame.width(), frame.height());
            if self.convert.as_ref().map(|(_, k)| *k) != Some(key) {
                let context = ff::software::scaling::Context::get(
                    key.0,
                    key.1,
                    key.2,
                    Pixel::YUV420P,
                    key.1,
                    key.2,
                    ff::software::scaling::Flags::BICUBIC,
                )
                .map_err(|e| format!("cannot convert {:?} to yuv420p: {e}", key.0))?;
                self.convert = Some((context, key));
                self.converted = Video::empty();
            }
            if let Some((context, _)) = self.convert.as_mut() {
                context
                    .run(frame, &mut self.converted)
                    .map_err(|e| format!("pixel format conversion: {e}"))?;
            }
            &self.converted
        };
        if self.orientation.is_identity() {
            // Only a conversion was needed (or nothing).
            return Ok(source);
        }
        let (w, h) = self
            .orientation
            .displayed((source.width(), source.height()));
        if (self.turned.width(), self.turned.height()) != (w, h)
            || self.turned.format() != Pixel::YUV420P
        {
            self.turned = Video::new(Pixel::YUV420P, w, h);
        }
        turn_planes(self.orientation, source, &mut self.turned);
        Ok(&self.turned)
    }
}

/// Writes every stored pixel of each plane to its displayed place.
fn turn_planes(o: Orientation, src: &Video, dst: &mut Video) {
    for plane in 0..3 {
        let (pw, ph) = (
            src.plane_width(plane) as usize,
            src.plane_height(plane) as usize,
        );
        let (from_stride, to_stride) = (src.stride(plane), dst.stride(plane));
        let from = src.data(plane);
        let to = dst.data_mut(plane);
        for q in 0..ph {
            let row = &from[q * from_stride..q * from_stride + pw];
            for (p, &value) in row.iter().enumerate() {
                let (x, y) = o.map((p, q), (pw, ph));
                to[y * to_stride + x] = value;
            }
        }
    }
}
