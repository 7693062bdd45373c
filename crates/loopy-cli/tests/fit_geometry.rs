//! Where the scaled picture lands: every source shape into every output shape, with
//! every fit mode, measured pixel by pixel in the decoded output. The picture must be
//! exactly where the fit mode puts it (centred, aspect kept, bars of equal width) and
//! everything else exact video black — no unwritten, smeared or over-written columns
//! or rows, chroma where the luma is.

mod common;

use common::*;
use std::path::{Path, PathBuf};

const SOURCES: [(u32, u32); 7] = [
    (1080, 1920),
    (720, 1280),
    (176, 144),
    (640, 480),
    (1920, 800),
    (854, 480),
    (202, 360),
];
const OUTPUTS: [(u32, u32); 5] = [
    (1280, 720),
    (1920, 1080),
    (720, 1280),
    (320, 180),
    (640, 360),
];
const FITS: [&str; 3] = ["letterbox", "crop", "stretch"];

/// Chroma of both clips: far from black's 128 so the picture's chroma extent shows.
const U: f64 = 90.0;
const V: f64 = 200.0;
const SOLID_Y: f64 = 120.0;

/// Luma of the gradient clip at source pixel (x, y) of a w×h clip.
fn gradient_y(x: f64, y: f64, w: f64, h: f64) -> f64 {
    40.0 + 120.0 * x / w + 60.0 * y / h
}

/// A folder with a solid clip and a gradient clip of one size, two frames each, lossless.
fn source_folder(root: &Path, (w, h): (u32, u32)) -> PathBuf {
    let dir = root.join(format!("{w}x{h}"));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, lum) in [
        ("a_solid.mp4", format!("{SOLID_Y}")),
        ("b_gradient.mp4", "40+120*X/W+60*Y/H".to_string()),
    ] {
        let filter = format!(
            "color=c=black:s={w}x{h}:r=30:d=0.0667,format=yuv420p,geq=lum='{lum}':cb={U}:cr={V}"
        );
        lossless_clip(&dir.join(name), &filter, &["-frames:v", "2"]);
    }
    dir
}

/// One decoded yuv420p frame.
struct Picture {
    w: usize,
    h: usize,
    data: Vec<u8>,
}

impl Picture {
    fn y(&self, x: usize, y: usize) -> f64 {
        self.data[y * self.w + x] as f64
    }
    fn chroma(&self, plane: usize, x: usize, y: usize) -> f64 {
        let (cw, ch) = (self.w / 2, self.h / 2);
        self.data[self.w * self.h + (plane - 1) * cw * ch + y * cw + x] as f64
    }
}

fn decode(path: &Path, (w, h): (u32, u32)) -> Vec<Picture> {
    let len = (w * h * 3 / 2) as usize;
    common::frames::raw_yuv420p(path, &[])
        .chunks(len)
        .map(|c| Picture {
            w: w as usize,
            h: h as usize,
            data: c.to_vec(),
        })
        .collect()
}

/// The exact (unrounded) rectangle the picture should cover, and the source window shown.
fn expected(src: (u32, u32), dst: (u32, u32), fit: &str) -> ([f64; 4], [f64; 4]) {
    let (sw, sh, dw, dh) = (src.0 as f64, src.1 as f64, dst.0 as f64, dst.1 as f64);
    let full_dst = [0.0, 0.0, dw, dh];
    let full_src = [0.0, 0.0, sw, sh];
    match fit {
        "letterbox" => {
            let s = (dw / sw).min(dh / sh);
            let (w, h) = (sw * s, sh * s);
            ([(dw - w) / 2.0, (dh - h) / 2.0, w, h], full_src)
        }
        "crop" => {
            let s = (dw / sw).max(dh / sh);
            let (w, h) = (dw / s, dh / s);
            (full_dst, [(sw - w) / 2.0, (sh - h) / 2.0, w, h])
        }
        _ => (full_dst, full_src),
    }
}

/// Everything wrong with one output frame, as readable lines.
fn check_frame(
    pic: &Picture,
    src: (u32, u32),
    fit: &str,
    gradient: bool,
    problems: &mut Vec<String>,
) {
    let (want, window) = expected(src, (pic.w as u32, pic.h as u32), fit);
    let is_picture = |v: f64| v > 25.0;
    // The luma extent of the picture: first and last bright column of each row.
    let mut rows = Vec::new();
    for y in 0..pic.h {
        let bright: Vec<usize> = (0..pic.w).filter(|&x| is_picture(pic.y(x, y))).collect();
        if let (Some(&first), Some(&last)) = (bright.first(), bright.last()) {
            if bright.len() != last - first + 1 {
                problems.push(format!("row {y}: dark columns inside the picture"));
                return;
            }
            rows.push((y, first, last + 1));
        }
    }
    let (Some(&(y0, x0, x1)), Some(&(y_last, _, _))) = (rows.first(), rows.last()) else {
        problems.push("no picture at all".into());
        return;
    };
    let y1 = y_last + 1;
    if rows.len() != y1 - y0 {
        problems.push(format!("rows {y0}..{y1} are not all picture"));
        return;
    }
    if let Some(&(y, a, b)) = rows.iter().find(|&&(_, a, b)| (a, b) != (x0, x1)) {
        problems.push(format!(
            "row {y} spans columns {a}..{b}, row {y0} spans {x0}..{x1}"
        ));
        return;
    }
    let measured = [x0 as f64, y0 as f64, (x1 - x0) as f64, (y1 - y0) as f64];
    for (i, name) in ["x", "y", "width", "height"].iter().enumerate() {
        if (measured[i] - want[i]).abs() > 2.0 {
            problems.push(format!(
                "picture {name} {} where {:.1} was expected (picture {x0},{y0} {}x{})",
                measured[i],
                want[i],
                x1 - x0,
                y1 - y0
            ));
        }
    }
    let (left, right) = (x0, pic.w - x1);
    let (top, bottom) = (y0, pic.h - y1);
    if left.abs_diff(right) > 1 || top.abs_diff(bottom) > 1 {
        problems.push(format!(
            "bars are uneven: left {left} right {right} top {top} bottom {bottom}"
        ));
    }
    // Luma: black outside, the source's values inside.
    for y in 0..pic.h {
        for x in 0..pic.w {
            let v = pic.y(x, y);
            let inside = (x0..x1).contains(&x) && (y0..y1).contains(&y);
            if !inside {
                if v > 17.0 {
                    problems.push(format!("luma {v} at ({x},{y}) outside the picture"));
                    return;
                }
                continue;
            }
            let wanted = if gradient {
                // Centre of the output pixel mapped into the source window.
                let sx = window[0] + (x as f64 + 0.5 - measured[0]) * window[2] / measured[2];
                let sy = window[1] + (y as f64 + 0.5 - measured[1]) * window[3] / measured[3];
                let (sw, sh) = (src.0 as f64, src.1 as f64);
                gradient_y(
                    (sx - 0.5).clamp(0.0, sw - 1.0),
                    (sy - 0.5).clamp(0.0, sh - 1.0),
                    sw,
                    sh,
                )
            } else {
                SOLID_Y
            };
            let tolerance = if gradient { 6.0 } else { 3.0 };
            if (v - wanted).abs() > tolerance {
                problems.push(format!(
                    "luma {v} at ({x},{y}), expected {wanted:.1} (picture {x0},{y0} {}x{})",
                    x1 - x0,
                    y1 - y0
                ));
                return;
            }
        }
    }
    // Chroma: neutral outside, the clip's colour inside, covering the luma's extent.
    let (cx0, cx1, cy0, cy1) = (x0 / 2, x1.div_ceil(2), y0 / 2, y1.div_ceil(2));
    for y in 0..pic.h / 2 {
        for x in 0..pic.w / 2 {
            let inside = (cx0..cx1).contains(&x) && (cy0..cy1).contains(&y);
            let edge = x + 1 == cx0
                || x == cx1
                || y + 1 == cy0
                || y == cy1
                || x == cx0
                || x + 1 == cx1
                || y == cy0
                || y + 1 == cy1;
            for (plane, colour) in [(1, U), (2, V)] {
                let v = pic.chroma(plane, x, y);
                let ok = if inside {
                    (v - colour).abs() <= 4.0
                } else {
                    (v - 128.0).abs() <= 2.0
                };
                // One chroma sample of slack at the picture's edge for chroma rounding.
                if !ok && !edge {
                    problems.push(format!(
                        "chroma plane {plane} is {v} at ({x},{y}), {} the picture ({cx0},{cy0})..({cx1},{cy1})",
                        if inside { "inside" } else { "outside" }
                    ));
                    return;
                }
            }
        }
    }
}

fn run_case(
    dir: &Path,
    out_dir: &Path,
    src: (u32, u32),
    dst: (u32, u32),
    fit: &str,
) -> Vec<String> {
    let out = out_dir.join(format!("{}x{}-{}x{}-{fit}.mkv", src.0, src.1, dst.0, dst.1));
    let size = format!("{}x{}", dst.0, dst.1);
    let run = loopy(&[
        "render",
        dir.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--count",
        "2",
        "--seed",
        "1",
        "--size",
        &size,
        "--fit",
        fit,
        "--copy",
        "never",
        "--crf",
        "0",
        "--preset",
        "ultrafast",
        "-q",
    ]);
    if !run.status.success() {
        return vec![format!("render failed: {}", stderr(&run))];
    }
    let sidecar = sidecar_json(&out);
    let clips = sidecar["clips"].as_array().unwrap();
    let mut gradient_at = Vec::new();
    for entry in sidecar["timeline"].as_array().unwrap() {
        let path = clips[entry["clip"].as_u64().unwrap() as usize]["path"]
            .as_str()
            .unwrap();
        for _ in 0..entry["frames"].as_u64().unwrap() {
            gradient_at.push(path.contains("gradient"));
        }
    }
    let mut problems = Vec::new();
    for (i, pic) in decode(&out, dst).iter().enumerate() {
        let mut found = Vec::new();
        check_frame(pic, src, fit, gradient_at[i], &mut found);
        problems.extend(found.into_iter().map(|p| format!("frame {i}: {p}")));
    }
    let _ = std::fs::remove_file(&out);
    problems
}

#[test]
fn every_source_into_every_output_with_every_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let folders: Vec<((u32, u32), PathBuf)> = SOURCES
        .iter()
        .map(|&s| (s, source_folder(tmp.path(), s)))
        .collect();
    let mut cases = Vec::new();
    for (src, dir) in &folders {
        for dst in OUTPUTS {
            for fit in FITS {
                cases.push((*src, dir.clone(), dst, fit));
            }
        }
    }
    // Two workers: the renders are independent and each is mostly process start-up.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((src, dir, dst, fit)) = cases.get(i) else {
                    break;
                };
                let problems = run_case(dir, tmp.path(), *src, *dst, fit);
                if let Some(first) = problems.first() {
                    failures.lock().unwrap().push(format!(
                        "{}x{} → {}x{} {fit}: {first} (+{} more)",
                        src.0,
                        src.1,
                        dst.0,
                        dst.1,
                        problems.len() - 1
                    ));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} cases are wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
