//! The low-latency preview of `loopy serve` with real clients: a WebSocket client
//! (tungstenite) and the ffmpeg CLI reading the chunked-HTTP twin. Every frame arrives
//! as its own fMP4 fragment as it is made, the whole decodes cleanly, and a cut lands
//! on the frames right after the newest one a player already has.

mod common;

use common::serving::*;
use common::*;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// The next binary message (one fMP4 box sequence).
fn next_binary(socket: &mut Socket) -> Vec<u8> {
    loop {
        match socket.read().expect("preview message") {
            Message::Binary(bytes) => return bytes.to_vec(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected preview message: {other:?}"),
        }
    }
}

/// The four-letter type of the first box.
fn first_box(bytes: &[u8]) -> &str {
    std::str::from_utf8(&bytes[4..8]).unwrap_or("?")
}

/// A fragment's decode time (`tfdt`'s baseMediaDecodeTime), in the track's units.
fn decode_time(fragment: &[u8]) -> u64 {
    let at = fragment
        .windows(4)
        .position(|w| w == b"tfdt")
        .expect("a fragment has a tfdt box");
    let body = &fragment[at + 4..];
    if body[0] == 1 {
        u64::from_be_bytes(body[4..12].try_into().expect("8 bytes"))
    } else {
        u32::from_be_bytes(body[4..8].try_into().expect("4 bytes")) as u64
    }
}

#[test]
fn the_preview_sends_each_frame_as_it_is_made_and_a_cut_lands_right_after_the_newest() {
    let server = serve(&[]);
    server.playlist(2);
    // The chunked-HTTP twin reads cleanly in the ffmpeg CLI.
    assert_eq!(server.ffmpeg_complaints("/preview.mp4", 3), "");

    let url = server.url("/preview").replace("http://", "ws://");
    let (mut socket, _) = tungstenite::connect(url).expect("preview WebSocket");
    let init = next_binary(&mut socket);
    assert_eq!(first_box(&init), "ftyp", "the init segment comes first");
    // The GOP so far (at most 29 frames, at once), then frames as they are made: a
    // second and a half of them.
    let mut arrivals = Vec::new();
    let mut fragments: Vec<Vec<u8>> = (0..45)
        .map(|_| {
            let fragment = next_binary(&mut socket);
            arrivals.push(Instant::now());
            fragment
        })
        .collect();
    // Frame by frame, not a GOP at a time (which would put a GOP of pictures
    // between a cut and the screen): past the backlog, a frame comes every 33 ms.
    let mut gaps: Vec<Duration> = arrivals[30..].windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    assert!(
        gaps[gaps.len() / 2] >= Duration::from_millis(10),
        "fragments come in bursts: {gaps:?}"
    );
    for fragment in &fragments {
        assert!(
            ["moof", "styp"].contains(&first_box(fragment)),
            "{}",
            first_box(fragment)
        );
    }
    let tick = decode_time(&fragments[1]) - decode_time(&fragments[0]);
    assert!(tick > 0, "fragments move on in time");
    let newest = decode_time(&fragments[44]) / tick;

    let cut = server.control("/api/cut", None);
    let at = cut["takes_effect_at_frame"].as_u64().expect("frame");
    // The cut starts at the next frame a player does not have yet; a few more may
    // have been made while the request travelled, never a GOP (30 frames) more.
    assert!(
        at > newest && at <= newest + 30,
        "the cut lands at frame {at}; the player had frame {newest}"
    );
    while decode_time(fragments.last().expect("fragments")) / tick < at + 15 {
        fragments.push(next_binary(&mut socket));
    }
    let _ = socket.close(None);

    // One fragment per frame, each one frame after the one before.
    let frames: Vec<u64> = fragments.iter().map(|f| decode_time(f) / tick).collect();
    for pair in frames.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "{frames:?}");
    }
    // Together they decode cleanly, one picture per fragment, and the picture
    // changes across the cut.
    let tmp = shared_tempdir();
    let whole: Vec<u8> = std::iter::once(&init)
        .chain(&fragments)
        .flatten()
        .copied()
        .collect();
    let file = tmp.path().join("preview.mp4");
    let colours = frame_colours(&whole, &file);
    assert_eq!(common::frames::decode_errors(&file), "");
    assert_eq!(colours.len(), fragments.len());
    let index = |frame: u64| (frame - frames[0]) as usize;
    let (before, after) = (colours[index(at - 1)], colours[index(at + 12)]);
    let distance: f64 = before.iter().zip(after).map(|(a, b)| (a - b).abs()).sum();
    assert!(
        distance > 100.0,
        "no change across the cut: {before:?} → {after:?}"
    );
    let metrics = server.get("/metrics").into_string().expect("metrics");
    assert!(
        metrics.contains("\nloopy_preview_bytes_total "),
        "{metrics}"
    );
}
