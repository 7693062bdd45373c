// The low-latency preview: one fMP4 fragment per frame over a WebSocket into Media
// Source Extensions, played a few frames behind the newest one, so that a cut shows
// within a fraction of a second (HLS players stay segments behind the live edge).
"use strict";
(() => {
  const video = document.getElementById("preview");
  const status = document.getElementById("preview-status");
  // How far behind the newest frame to play (seconds), when to start and stop
  // catching up by playing faster (every stall, e.g. while a cut is encoded, adds to
  // the lag), when to jump instead, and how much played video to keep.
  const TARGET = 0.25, FAST = 0.4, STEADY = 0.3, JUMP = 2.0, KEEP = 10;
  // The source buffer of the current connection.
  let buffer = null;

  // RFC 6381 codec string from the init segment's avcC box (H.264).
  function codecOf(init) {
    const bytes = new Uint8Array(init);
    for (let i = 4; i + 8 < bytes.length; i++) {
      if (bytes[i] === 0x61 && bytes[i + 1] === 0x76 && bytes[i + 2] === 0x63 && bytes[i + 3] === 0x43) {
        const hex = (b) => b.toString(16).padStart(2, "0");
        return "avc1." + hex(bytes[i + 5]) + hex(bytes[i + 6]) + hex(bytes[i + 7]);
      }
    }
    return null;
  }

  function connect() {
    const source = new MediaSource();
    buffer = null;
    video.src = URL.createObjectURL(source);
    source.addEventListener("sourceopen", () => {
      const socket = new WebSocket(new URL("preview", location.href).href.replace(/^http/, "ws"));
      socket.binaryType = "arraybuffer";
      const queue = [];
      const pump = () => {
        if (buffer && !buffer.updating && queue.length && source.readyState === "open") {
          buffer.appendBuffer(queue.shift());
        }
      };
      socket.onmessage = (event) => {
        if (!buffer) {
          const codec = codecOf(event.data);
          const type = 'video/mp4; codecs="' + codec + '"';
          if (!codec || !MediaSource.isTypeSupported(type)) {
            status.textContent = "this browser cannot play the preview (" + (codec || "not H.264") + ")";
            socket.onclose = null;
            socket.close();
            return;
          }
          buffer = source.addSourceBuffer(type);
          buffer.mode = "segments";
          buffer.addEventListener("updateend", pump);
          status.textContent = "live";
        }
        queue.push(event.data);
        pump();
      };
      // A player that fell behind is dropped by the server; so is one whose server
      // restarted: start afresh.
      socket.onclose = () => {
        status.textContent = "reconnecting…";
        setTimeout(connect, 1000);
      };
    });
  }

  // Stay near the newest frame: play a little faster when behind, jump when far
  // behind; forget what was played long ago.
  setInterval(() => {
    const ranges = video.buffered;
    if (!ranges.length) return;
    const end = ranges.end(ranges.length - 1);
    const lag = end - video.currentTime;
    if (lag > JUMP || video.currentTime < ranges.start(ranges.length - 1)) {
      video.currentTime = Math.max(ranges.start(ranges.length - 1), end - TARGET);
    }
    if (lag > FAST) video.playbackRate = 1.1;
    else if (lag < STEADY) video.playbackRate = 1.0;
    if (video.paused) video.play().catch(() => {});
    if (buffer && !buffer.updating && video.currentTime - ranges.start(0) > 2 * KEEP) {
      buffer.remove(ranges.start(0), video.currentTime - KEEP);
    }
    window.loopyPreviewLag = lag;
  }, 250);

  connect();
})();
