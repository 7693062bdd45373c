//! The low-latency preview over HTTP: `GET /preview` upgrades to a WebSocket whose
//! binary messages are the init segment and then one fMP4 fragment per frame (for
//! Media Source Extensions in the dashboard); `GET /preview.mp4` sends the same bytes
//! as one endless chunked response (ffplay, the ffmpeg CLI, anything that reads
//! fragmented MP4 from a socket).

use super::{refuse, App};
use crate::state::Shared;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio_stream::{Stream, StreamExt};

/// Counts a player for as long as it is connected.
struct Watching(Arc<Shared>);

impl Watching {
    fn new(shared: &Arc<Shared>) -> Self {
        shared.preview.clients.fetch_add(1, Ordering::Relaxed);
        Watching(Arc::clone(shared))
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.preview.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

fn not_started() -> Response {
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "the stream has not started yet",
    )
}

/// The fragments a new player gets, counted as they go out.
fn fragments(shared: &Arc<Shared>) -> Option<impl Stream<Item = Bytes> + Send + 'static> {
    let stream = shared.until_closing(shared.preview.subscribe()?);
    let watching = Watching::new(shared);
    Some(stream.map(move |bytes| {
        watching.0.preview.count_sent(bytes.len());
        bytes
    }))
}

pub(super) async fn preview_mp4(State(app): State<App>) -> Response {
    let Some(stream) = fragments(&app.shared) else {
        return not_started();
    };
    let body = Body::from_stream(stream.map(Ok::<_, std::convert::Infallible>));
    (
        [
            (header::CONTENT_TYPE, "video/mp4"),
            (header::CACHE_CONTROL, "no-store"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        body,
    )
        .into_response()
}

pub(super) async fn preview_socket(State(app): State<App>, upgrade: WebSocketUpgrade) -> Response {
    let Some(stream) = fragments(&app.shared) else {
        return not_started();
    };
    upgrade.on_upgrade(move |socket| send_fragments(socket, stream))
}

/// Sends every fragment as a binary message until the player leaves, falls behind or
/// the stream ends (then the socket is closed; the dashboard reconnects).
async fn send_fragments(mut socket: WebSocket, stream: impl Stream<Item = Bytes> + Send) {
    let mut stream = std::pin::pin!(stream);
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                // Players have nothing to say; anything but a close is ignored.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            fragment = stream.next() => match fragment {
                Some(bytes) => {
                    if socket.send(Message::Binary(bytes)).await.is_err() {
                        return;
                    }
                }
                None => break,
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
