//! FFmpeg's own log, routed through Loopy: its error messages are captured while a
//! clip is being verified (so `scan --verify` can quote FFmpeg's reason, such as
//! "error while decoding MB 10 5"), errors of video decoders are counted (a render's
//! frame-threaded decoder conceals damage and only says so in the log), and
//! everything from warnings up is printed on stderr with `-vv`. Nothing else is
//! printed: every problem FFmpeg would report is reported by Loopy with the file's name.

use ffmpeg_next as ff;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

static VERBOSE: AtomicBool = AtomicBool::new(false);
/// Errors logged by video decoders, from any thread, and the latest message.
static VIDEO_DECODE_ERRORS: AtomicU64 = AtomicU64::new(0);
static LAST_VIDEO_DECODE_ERROR: Mutex<String> = Mutex::new(String::new());

/// How many errors video decoders have logged in this process so far.
pub fn video_decode_errors() -> u64 {
    VIDEO_DECODE_ERRORS.load(Ordering::SeqCst)
}

/// The latest error a video decoder logged.
pub fn last_video_decode_error() -> String {
    LAST_VIDEO_DECODE_ERROR
        .lock()
        .map(|m| m.clone())
        .unwrap_or_default()
}

/// Whether the logging object is a video decoder's codec context (frame-thread
/// copies included). FFmpeg's convention: every logging struct starts with a
/// pointer to its AVClass.
///
/// # Safety
/// `avcl` must be null or an object FFmpeg passed to its log callback.
unsafe fn is_video_decoder(avcl: *mut c_void) -> bool {
    if avcl.is_null() {
        return false;
    }
    // SAFETY: per the convention above; every pointer is checked before use.
    unsafe {
        let class = *(avcl as *const *const ff::ffi::AVClass);
        if class.is_null() || (*class).class_name.is_null() {
            return false;
        }
        if CStr::from_ptr((*class).class_name).to_bytes() != b"AVCodecContext" {
            return false;
        }
        let ctx = avcl as *const ff::ffi::AVCodecContext;
        (*ctx).codec_type == ff::ffi::AVMediaType::AVMEDIA_TYPE_VIDEO
            && !(*ctx).codec.is_null()
            && ff::ffi::av_codec_is_decoder((*ctx).codec) != 0
    }
}
/// Messages kept per capture; a badly damaged file repeats itself thousands of times.
const MAX_CAPTURED: usize = 8;

thread_local! {
    static CAPTURED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Installs the callback; `verbose` also prints FFmpeg's warnings and errors.
pub fn install(verbose: bool) {
    VERBOSE.store(verbose, Ordering::Relaxed);
    // SAFETY: the callback is a plain function valid for the program's lifetime.
    unsafe { ff::ffi::av_log_set_callback(Some(callback)) }
}

/// Runs `work` and returns the error messages FFmpeg logged on this thread meanwhile
/// (a single-threaded decoder logs on the thread that calls it).
pub fn capture<R>(work: impl FnOnce() -> R) -> (R, Vec<String>) {
    CAPTURED.with(|c| {
        if let Ok(mut slot) = c.try_borrow_mut() {
            *slot = Some(Vec::new());
        }
    });
    let result = work();
    let messages = CAPTURED.with(|c| {
        c.try_borrow_mut()
            .ok()
            .and_then(|mut slot| slot.take())
            .unwrap_or_default()
    });
    (result, messages)
}

/// Whether FFmpeg logged an error on this thread since [`capture`] began.
pub fn captured_any() -> bool {
    CAPTURED.with(|c| {
        c.try_borrow()
            .map(|s| s.as_ref().is_some_and(|m| !m.is_empty()))
            .unwrap_or(false)
    })
}

unsafe extern "C" fn callback(
    avcl: *mut c_void,
    level: c_int,
    fmt: *const c_char,
    vl: *mut ff::ffi::__va_list_tag,
) {
    let capturing = level <= ff::ffi::AV_LOG_ERROR
        && CAPTURED.with(|c| c.try_borrow().map(|s| s.is_some()).unwrap_or(false));
    let printing = level <= ff::ffi::AV_LOG_WARNING && VERBOSE.load(Ordering::Relaxed);
    // SAFETY: avcl comes from FFmpeg's log call.
    let decoding = level <= ff::ffi::AV_LOG_ERROR && unsafe { is_video_decoder(avcl) };
    if !(capturing || printing || decoding) || fmt.is_null() {
        return;
    }
    let mut line = [0 as c_char; 1024];
    let mut print_prefix: c_int = 1;
    // SAFETY: FFmpeg hands us a valid format and argument list; the buffer's size
    // is passed along, and av_log_format_line2 always NUL-terminates.
    let text = unsafe {
        ff::ffi::av_log_format_line2(
            avcl,
            level,
            fmt,
            vl,
            line.as_mut_ptr(),
            line.len() as c_int,
            &mut print_prefix,
        );
        CStr::from_ptr(line.as_ptr())
            .to_string_lossy()
            .trim()
            .to_string()
    };
    if text.is_empty() {
        return;
    }
    let text = without_address(&text);
    if decoding {
        if let Ok(mut last) = LAST_VIDEO_DECODE_ERROR.lock() {
            last.clone_from(&text);
        }
        VIDEO_DECODE_ERRORS.fetch_add(1, Ordering::SeqCst);
    }
    if capturing {
        CAPTURED.with(|c| {
            if let Ok(mut slot) = c.try_borrow_mut() {
                if let Some(messages) = slot.as_mut() {
                    if messages.len() < MAX_CAPTURED && !messages.contains(&text) {
                        messages.push(text.clone());
                    }
                }
            }
        });
    }
    if printing {
        eprintln!("ffmpeg: {text}");
    }
}

/// `[h264 @ 0x7f…] corrupted macroblock` → `[h264] corrupted macroblock`: the address
/// means nothing to a reader and differs on every run.
fn without_address(text: &str) -> String {
    match (text.find(" @ 0x"), text.find(']')) {
        (Some(at), Some(close)) if text.starts_with('[') && at < close => {
            format!("{}{}", &text[..at], &text[close..])
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_are_dropped() {
        assert_eq!(
            super::without_address("[h264 @ 0x7ff5642f3c40] corrupted macroblock 6 0"),
            "[h264] corrupted macroblock 6 0"
        );
        assert_eq!(super::without_address("plain"), "plain");
    }
}
