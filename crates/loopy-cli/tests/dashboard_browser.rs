//! The dashboard in a real headless Chromium (WebDriver): it plays the live stream
//! through the vendored hls.js and steers it. A test binary of its own, so that no
//! other test competes for the two cores while the browser plays (dropped frames are
//! counted).

mod common;

use common::serving::*;
use std::time::{Duration, Instant};

/// What the dashboard's player is doing, read in the page.
const PLAYER: &str = r#"
const v = document.getElementById('video');
const q = v.getVideoPlaybackQuality();
const c = document.getElementById('probe');
const g = c.getContext('2d');
let colour = null;
if (v.readyState >= 2) {
  g.drawImage(v, 0, 0, c.width, c.height);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  colour = [0, 1, 2].map(k => { let s = 0; for (let i = k; i < d.length; i += 4) s += d[i]; return s / (d.length / 4); });
}
return {time: v.currentTime, decoded: q.totalVideoFrames, dropped: q.droppedVideoFrames,
        ranges: v.buffered.length, errors: window.loopyErrors, changes: window.loopyClipChanges,
        now: document.getElementById('now-playing').textContent, colour: colour,
        paused: v.paused};
"#;

#[test]
fn the_dashboard_plays_the_stream_in_chromium_and_steers_it() {
    if !common::browser::available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium and chromium-driver are missing (scripts/setup installs them)"
        );
        eprintln!("SKIPPED: chromium/chromedriver not installed (scripts/setup installs them)");
        return;
    }
    let server = serve(&[]);
    server.playlist(3);
    let browser = common::browser::Browser::start();
    let page_load = Instant::now();
    browser.open(&server.url("/"));
    // How long from page load to a playing video (reported, not asserted: the
    // machine is shared; docs/BENCHMARKS.md keeps the figure).
    loop {
        let now = browser.run(PLAYER, serde_json::json!([]));
        if now["time"].as_f64() > Some(0.0) {
            eprintln!(
                "measure: hls.js playing {:?} after page load",
                page_load.elapsed()
            );
            break;
        }
        assert!(
            page_load.elapsed() < Duration::from_secs(60),
            "never started: {now}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    browser.run(
        "const t = document.getElementById('token'); t.value = arguments[0]; t.dispatchEvent(new Event('change'));",
        serde_json::json!([TOKEN]),
    );
    // It plays: time and decoded frames rise, nothing dropped, one buffered range,
    // no hls.js error, across at least five clip changes.
    let started = Instant::now();
    let mut last = browser.run(PLAYER, serde_json::json!([]));
    let mut advanced = 0;
    loop {
        std::thread::sleep(Duration::from_millis(1000));
        let now = browser.run(PLAYER, serde_json::json!([]));
        assert_eq!(now["errors"], serde_json::json!([]), "hls.js errors: {now}");
        if now["time"].as_f64() > Some(0.0) {
            assert_eq!(now["dropped"], 0, "{now}");
            assert_eq!(now["ranges"], 1, "buffered ranges: {now}");
            assert!(
                now["time"].as_f64() >= last["time"].as_f64(),
                "{last} → {now}"
            );
            if now["time"].as_f64() > last["time"].as_f64()
                && now["decoded"].as_u64() > last["decoded"].as_u64()
            {
                advanced += 1;
            }
        }
        last = now;
        if last["changes"].as_u64().unwrap_or(0) >= 5 && advanced >= 10 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the player did not play through five clip changes: {last}"
        );
    }
    eprintln!("player after {:?}: {last}", started.elapsed());
    // Clip thumbnails came from the server: every library clip has one.
    let thumbnails = browser.run(
        "return [...document.querySelectorAll('#clips img.thumb')].filter(i => i.complete && i.naturalWidth === 192).length;",
        serde_json::json!([]),
    );
    assert_eq!(
        thumbnails.as_u64(),
        Some(COLOURS.len() as u64),
        "thumbnails"
    );
    if let Some(path) = std::env::var_os("LOOPY_SCREENSHOT") {
        browser.screenshot(std::path::Path::new(&path));
    }
    // A signal slider reaches the server.
    browser.run(
        "const s = document.getElementById('signal-talk'); s.value = 0.8; s.dispatchEvent(new Event('change'));",
        serde_json::json!([]),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state: serde_json::Value = server.get("/api/state").into_json().expect("state");
        if state["signals"][0]["tag"] == "talk" && state["signals"][0]["value"] == 0.8 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slider did not reach the server: {state}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The cut button: the now-playing list moves on and the picture changes colour.
    let before = browser.run(PLAYER, serde_json::json!([]));
    browser.run(
        "document.getElementById('cut').click();",
        serde_json::json!([]),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let now = browser.run(PLAYER, serde_json::json!([]));
        let moved = now["changes"].as_u64() > before["changes"].as_u64();
        let changed = match (now["colour"].as_array(), before["colour"].as_array()) {
            (Some(a), Some(b)) => {
                a.iter()
                    .zip(b)
                    .map(|(x, y)| (x.as_f64().unwrap_or(0.0) - y.as_f64().unwrap_or(0.0)).abs())
                    .sum::<f64>()
                    > 100.0
            }
            _ => false,
        };
        if moved && changed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cut did not show: {before} → {now}"
        );
    }
    let answer = browser.run(
        "return document.getElementById('answer').textContent;",
        serde_json::json!([]),
    );
    assert!(
        answer.as_str().unwrap_or("").starts_with("takes effect at"),
        "{answer}"
    );
}
