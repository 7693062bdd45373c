//! FFmpeg's own log, routed through Loopy: its error messages are captured while a
//! clip is being verified (so `scan --verify` can quote FFmpeg's reason, such as
//! "error while decoding MB 10 5"), errors of watched video decoders are counted per
//! decoder (a render's frame-threaded decoder conceals damage and only says so in the
//! log), and
//! everything from warnings up is printed on stderr with `-vv`. Nothing else is
//! printed: every problem FFmpeg would report is reported by Loopy with the file's name.

use ffmpeg_next as ff;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

static VERBOSE: AtomicBool = AtomicBool::new(false);
/// The errors one watched decoder has logged, from whichever of its threads.
#[derive(Debug, Default)]
pub struct DecodeErrors {
    count: AtomicU64,
    last: Mutex<String>,
}

impl DecodeErrors {
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// The latest message.
    pub fn last(&self) -> String {
        self.last.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// Routes the errors the decoder about to be opened from `context` logs to `errors`
/// (through the context's `opaque`, which FFmpeg copies into each frame thread's
/// context). `errors` must outlive the decoder.
pub fn watch(context: &mut ff::codec::Context, errors: &DecodeErrors) {
    // SAFETY: `opaque` is the caller's to use; it is only read back as a
    // `DecodeErrors` by the log callback while the decoder lives.
    unsafe { (*context.as_mut_ptr()).opaque = errors as *const DecodeErrors as *mut c_void }
}

/// The watch of the video decoder behind a logging object, if it is one and is
/// watched. FFmpeg's convention: every logging struct starts with a pointer to its
/// AVClass.
///
/// # Safety
/// `avcl` must be null or an object FFmpeg passed to its log callback.
unsafe fn watched_decoder<'a>(avcl: *mut c_void) -> Option<&'a DecodeErrors> {
    if avcl.is_null() {
        return None;
    }
    // SAFETY: per the convention above; every pointer is checked before use, and a
    // non-null opaque of a video decoder is only ever set by `watch`.
    unsafe {
        let class = *(avcl as *const *const ff::ffi::AVClass);
        if class.is_null() || (*class).class_name.is_null() {
            return None;
        }
        if CStr::from_ptr((*class).class_name).to_bytes() != b"AVCodecContext" {
            return None;
        }
        let ctx = avcl as *const ff::ffi::AVCodecContext;
        let video_decoder = (*ctx).codec_type == ff::ffi::AVMediaType::AVMEDIA_TYPE_VIDEO
            && !(*ctx).codec.is_null()
            && ff::ffi::av_codec_is_decoder((*ctx).codec) != 0;
        if !video_decoder || (*ctx).opaque.is_null() {
            return None;
        }
        Some(&*((*ctx).opaque as *const DecodeErrors))
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
    let watched = if level <= ff::ffi::AV_LOG_ERROR {
        unsafe { watched_decoder(avcl) }
    } else {
        None
    };
    if !(capturing || printing || watched.is_some()) || fmt.is_null() {
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
    if let Some(errors) = watched {
        if let Ok(mut last) = errors.last.lock() {
            last.clone_from(&text);
        }
        errors.count.fetch_add(1, Ordering::SeqCst);
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
