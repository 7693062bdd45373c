//! Reading rendered videos back with the ffmpeg CLI (an oracle independent of
//! Loopy's own decoding) and measuring the test pattern in each frame.

use std::path::Path;
use std::process::Command;

/// Per-frame measurements of the test pattern: the top half carries the clip's
/// colour, the bottom half a luma level that encodes the source frame index.
#[derive(Debug, Clone, Copy)]
pub struct FrameStats {
    pub top_y: f64,
    pub top_u: f64,
    pub top_v: f64,
    pub bottom_y: f64,
}

/// Luma of the bottom half for source frame `n`.
pub fn marker_level(n: u64) -> f64 {
    16.0 + 4.0 * n as f64
}

/// The source frame index a bottom-half luma level stands for.
pub fn marker_index(level: f64) -> i64 {
    ((level - 16.0) / 4.0).round() as i64
}

/// A pattern clip: flat colour (y, u, v) on top, frame marker below; lossless H.264.
pub fn pattern_clip(path: &Path, size: &str, rate: &str, seconds: &str, (y, u, v): (u8, u8, u8)) {
    let filter = format!(
        "color=c=black:s={size}:r={rate}:d={seconds},format=yuv420p,geq=lum='if(lt(Y,H/2),{y},16+4*N)':cb={u}:cr={v}"
    );
    super::lossless_clip(path, &filter, &["-g", "12"]);
}

/// The frames of `path` as raw yuv420p bytes at their own size, decoded by the ffmpeg
/// CLI (which also turns rotated video upright, as players do); `limit` options such
/// as `["-frames:v", "1"]` go before the output.
pub fn raw_yuv420p(path: &Path, limit: &[&str]) -> Vec<u8> {
    raw_frames(path, limit, "yuv420p")
}

/// The frames of `path` as raw `pix_fmt` bytes, decoded by the ffmpeg CLI; `options`
/// (a frame limit, filters) go before the output.
pub fn raw_frames(path: &Path, options: &[&str], pix_fmt: &str) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(options)
        .args(["-f", "rawvideo", "-pix_fmt", pix_fmt, "-"])
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "decoding {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// What the ffmpeg CLI reports while decoding all of `path`: empty when it is clean.
pub fn decode_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Decodes every frame of `path` to yuv420p at its own size and measures it.
pub fn read_frames(path: &Path, width: usize, height: usize) -> Vec<FrameStats> {
    let raw = raw_yuv420p(path, &[]);
    let frame_len = width * height * 3 / 2;
    assert_eq!(
        raw.len() % frame_len,
        0,
        "output is not whole {width}x{height} frames"
    );
    raw.chunks(frame_len)
        .map(|f| measure(f, width, height))
        .collect()
}

fn mean(rows: impl Iterator<Item = u64>, count: usize) -> f64 {
    rows.sum::<u64>() as f64 / count as f64
}

/// Means over the inner part of each half (a margin keeps clear of the boundary and
/// of chroma siting blur).
fn measure(frame: &[u8], w: usize, h: usize) -> FrameStats {
    let (cw, ch) = (w / 2, h / 2);
    let y_plane = &frame[..w * h];
    let u_plane = &frame[w * h..w * h + cw * ch];
    let v_plane = &frame[w * h + cw * ch..];
    let region = |plane: &[u8],
                  stride: usize,
                  rows: std::ops::Range<usize>,
                  cols: std::ops::Range<usize>| {
        let count = rows.len() * cols.len();
        mean(
            rows.flat_map(|r| cols.clone().map(move |c| plane[r * stride + c] as u64)),
            count,
        )
    };
    FrameStats {
        top_y: region(y_plane, w, 2..h / 2 - 2, 2..w - 2),
        top_u: region(u_plane, cw, 1..ch / 2 - 1, 1..cw - 1),
        top_v: region(v_plane, cw, 1..ch / 2 - 1, 1..cw - 1),
        bottom_y: region(y_plane, w, h / 2 + 2..h - 2, 2..w - 2),
    }
}

/// Frames, codec, size, pixel format, rate and duration as ffprobe reports them.
pub fn probe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-print_format",
            "json",
        ])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,pix_fmt,avg_frame_rate,nb_read_frames:format=duration",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    serde_json::from_slice(&out.stdout).expect("ffprobe json")
}
