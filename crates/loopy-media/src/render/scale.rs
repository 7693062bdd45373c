//! Converts decoded frames to the output's size and YUV 4:2:0 with swscale,
//! honouring `--fit`: a crop is a pointer offset into the source. A letterboxed
//! picture is scaled into a frame of its own size and then copied row by row into
//! place over black: swscale writes whole SIMD blocks past the end of a row, so
//! scaling straight into the middle of the output would spill a few columns of
//! garbage into the right-hand bar (a grey stripe beside pillarboxed pictures).

use ff::format::Pixel;
use ff::frame::Video;
use ffmpeg_next as ff;
use loopy_core::fit::{fit_rects_with_sar, Fit, Rect};
use loopy_core::Rational;
use std::ptr;

pub struct FitScaler {
    context: *mut ff::ffi::SwsContext,
    src: Rect,
    dst: Rect,
    src_format: Pixel,
    src_steps: [i32; 4],
    src_shift: (u8, u8),
    /// The picture at its scaled size, when it only covers part of the output.
    letterboxed: Option<Video>,
}

// SAFETY: the SwsContext is used by one thread at a time (the scaler moves with its stage).
unsafe impl Send for FitScaler {}

impl FitScaler {
    /// `None` when no conversion is needed (same size and shape, already yuv420p).
    /// `sar` is the shape of a source pixel: the picture keeps its displayed aspect.
    pub fn new(
        src_size: (u32, u32),
        src_format: Pixel,
        sar: Rational,
        dst_size: (u32, u32),
        fit: Fit,
    ) -> Result<Option<Self>, String> {
        let (src, dst) = fit_rects_with_sar(src_size, sar, dst_size, fit);
        let whole = (
            Rect::full(src_size.0, src_size.1),
            Rect::full(dst_size.0, dst_size.1),
        );
        if src_size == dst_size && src_format == Pixel::YUV420P && (src, dst) == whole {
            return Ok(None);
        }
        let descriptor = src_format
            .descriptor()
            .ok_or_else(|| format!("unknown pixel format {src_format:?}"))?;
        let mut steps = [0i32; 4];
        // SAFETY: the descriptor pointer is valid for the program's lifetime.
        unsafe {
            ff::ffi::av_image_fill_max_pixsteps(
                steps.as_mut_ptr(),
                ptr::null_mut(),
                descriptor.as_ptr(),
            );
        }
        // SAFETY: plain constructor; a null result is handled below.
        let context = unsafe {
            ff::ffi::sws_getContext(
                src.w as i32,
                src.h as i32,
                src_format.into(),
                dst.w as i32,
                dst.h as i32,
                Pixel::YUV420P.into(),
                ff::ffi::SWS_BICUBIC,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null(),
            )
        };
        if context.is_null() {
            return Err(format!(
                "cannot convert {src_format:?} {}x{} to yuv420p",
                src_size.0, src_size.1
            ));
        }
        Ok(Some(FitScaler {
            context,
            src,
            dst,
            src_format,
            src_steps: steps,
            src_shift: (descriptor.log2_chroma_w(), descriptor.log2_chroma_h()),
            letterboxed: (dst != Rect::full(dst_size.0, dst_size.1))
                .then(|| Video::new(Pixel::YUV420P, dst.w, dst.h)),
        }))
    }

    /// Scales `src` into `dst` (a writable yuv420p frame of the output size).
    pub fn run(&mut self, src: &Video, dst: &mut Video) -> Result<(), String> {
        if src.format() != self.src_format {
            return Err("the clip changed pixel format mid-stream".into());
        }
        let Some(mut picture) = self.letterboxed.take() else {
            return self.scale(src, dst);
        };
        let scaled = self.scale(src, &mut picture);
        if scaled.is_ok() {
            fill_black(dst);
            place(&picture, dst, self.dst.x as usize, self.dst.y as usize);
        }
        self.letterboxed = Some(picture);
        scaled
    }

    /// Scales the source rectangle over the whole of `target`.
    fn scale(&mut self, src: &Video, target: &mut Video) -> Result<(), String> {
        // SAFETY: source plane pointers are offset inside their planes (fit_rects keeps
        // the crop rectangle inside the frame, even-aligned); the target is a whole
        // frame of the scaler's destination size.
        unsafe {
            let s = src.as_ptr();
            let d = target.as_mut_ptr();
            let mut src_planes = [ptr::null::<u8>(); 4];
            for (p, plane) in src_planes.iter_mut().enumerate() {
                let data = (*s).data[p];
                if !data.is_null() {
                    let (sx, sy) = if p == 1 || p == 2 {
                        self.src_shift
                    } else {
                        (0, 0)
                    };
                    let offset = (self.src.y >> sy) as isize * (*s).linesize[p] as isize
                        + (self.src.x >> sx) as isize * self.src_steps[p] as isize;
                    *plane = data.offset(offset);
                }
            }
            let ret = ff::ffi::sws_scale(
                self.context,
                src_planes.as_ptr(),
                (*s).linesize.as_ptr(),
                0,
                self.src.h as i32,
                (*d).data.as_ptr(),
                (*d).linesize.as_ptr(),
            );
            if ret <= 0 {
                return Err("swscale failed".into());
            }
        }
        Ok(())
    }
}

/// Copies a yuv420p `picture` into `frame` with its top-left corner at (x, y), both
/// even: exactly the picture's width of every row, nothing beside it.
/// Copies a yuv420p `picture` into `frame` with its top-left corner at (`x`, `y`)
/// (even), row by row.
pub fn place(picture: &Video, frame: &mut Video, x: usize, y: usize) {
    for plane in 0..3 {
        let shift = usize::from(plane > 0);
        let (w, h) = (
            (picture.width() as usize) >> shift,
            (picture.height() as usize) >> shift,
        );
        let (from_stride, to_stride) = (picture.stride(plane), frame.stride(plane));
        let from = picture.data(plane);
        let to = frame.data_mut(plane);
        for row in 0..h {
            let at = ((y >> shift) + row) * to_stride + (x >> shift);
            to[at..at + w].copy_from_slice(&from[row * from_stride..row * from_stride + w]);
        }
    }
}

impl Drop for FitScaler {
    fn drop(&mut self) {
        // SAFETY: created by sws_getContext and freed once.
        unsafe { ff::ffi::sws_freeContext(self.context) }
    }
}

/// Video black in limited-range YUV: Y 16, U and V 128.
pub fn fill_black(frame: &mut Video) {
    for (plane, value) in [(0usize, 16u8), (1, 128), (2, 128)] {
        frame.data_mut(plane).fill(value);
    }
}
