// The Loopy dashboard: the live player (hls.js, or native HLS; the low-latency
// preview is preview.js), what plays and what comes next (server-sent events), the
// controls (token from the field, kept in this browser only), and live metrics.
// Everything is same-origin; nothing is loaded from the internet.
"use strict";
const $ = (id) => document.getElementById(id);
window.loopyErrors = [];
window.loopyClipChanges = 0;

const tokenField = $("token");
tokenField.value = localStorage.getItem("loopyToken") || "";
tokenField.addEventListener("change", () => localStorage.setItem("loopyToken", tokenField.value));

async function control(path, body, method = "POST") {
  const response = await fetch(path, {
    method,
    headers: Object.assign(
      { Authorization: "Bearer " + tokenField.value },
      body ? { "Content-Type": "application/json" } : {}
    ),
    body: body ? JSON.stringify(body) : undefined,
  });
  const answer = await response.json().catch(() => ({}));
  window.loopyLastAnswer = answer;
  $("answer").textContent = response.ok
    ? "takes effect at " + answer.takes_effect_at_s.toFixed(2) + " s"
    : answer.error || response.statusText;
  return response.ok;
}

// The player.
const video = $("video");
$("url").textContent = new URL("live.m3u8", location.href).href;
$("preview-url").textContent = new URL("preview.mp4", location.href).href;
if (window.Hls && Hls.isSupported()) {
  // Two and a half segments behind the newest: segments are published as their start
  // falls due, so that is as much buffer as three would be elsewhere. (No catch-up by
  // playing faster: that drops frames.)
  const hls = new Hls({ liveSyncDurationCount: 2.5 });
  hls.on(Hls.Events.ERROR, (_, data) => {
    window.loopyErrors.push(data.type + ":" + data.details + (data.fatal ? ":fatal" : ""));
    if (data.fatal && data.type === Hls.ErrorTypes.NETWORK_ERROR) hls.startLoad();
    else if (data.fatal && data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
  });
  hls.loadSource("live.m3u8");
  hls.attachMedia(video);
  window.loopyHls = hls;
} else if (video.canPlayType("application/vnd.apple.mpegurl")) {
  video.src = "live.m3u8";
}
video.muted = true;
video.play().catch(() => {});

// What plays: events as they happen, the full state now and then.
const name = (clip) => (clip ? clip.name : "–");
function thumb(clip) {
  return Object.assign(document.createElement("img"), {
    className: "thumb", alt: "", src: "api/clips/" + clip.index + "/thumb.png",
  });
}
function entry(clip) {
  const item = document.createElement("li");
  item.append(thumb(clip), " " + name(clip));
  return item;
}
function fill(list, clips) {
  list.replaceChildren(...clips.map(entry));
}
function showState(state) {
  const now = $("now-playing");
  if (now.dataset.clip !== name(state.now_playing)) {
    now.dataset.clip = name(state.now_playing);
    now.replaceChildren(...(state.now_playing ? [thumb(state.now_playing), " "] : []), name(state.now_playing));
  }
  fill($("queued"), state.queued || []);
  fill($("history"), (state.history || []).slice().reverse());
  for (const input of document.querySelectorAll("#signals input")) {
    const signal = (state.signals || []).find((s) => s.tag === input.dataset.tag);
    if (document.activeElement !== input) input.value = signal ? signal.value : 0;
  }
}
async function refresh() {
  const response = await fetch("api/state");
  if (response.ok) showState(await response.json());
}
const events = new EventSource("api/events");
events.addEventListener("clip", (event) => {
  window.loopyClipChanges += 1;
  showState(JSON.parse(event.data));
});

// Controls.
$("cut").addEventListener("click", () => control("api/cut"));
$("skip").addEventListener("click", () => control("api/skip"));
async function setSignals() {
  const body = {};
  for (const input of document.querySelectorAll("#signals input")) {
    if (Number(input.value) !== 0) body[input.dataset.tag] = Number(input.value);
  }
  await control("api/signals", body);
}
async function loadClips() {
  const clips = await (await fetch("api/clips")).json();
  const tags = [...new Set(clips.flatMap((c) => c.tags))].sort();
  $("signals").replaceChildren(
    ...tags.map((tag) => {
      const label = document.createElement("label");
      const input = Object.assign(document.createElement("input"), { type: "range", min: -1, max: 1, step: 0.1, value: 0 });
      input.dataset.tag = tag;
      input.id = "signal-" + tag;
      input.addEventListener("change", setSignals);
      label.append(tag + " ", input);
      const row = document.createElement("div");
      row.append(label);
      return row;
    })
  );
  $("clips").replaceChildren(
    ...clips.map((clip) => {
      const item = document.createElement("li");
      const button = Object.assign(document.createElement("button"), { className: "small", textContent: "queue" });
      button.dataset.clip = clip.name;
      button.addEventListener("click", () => control("api/queue", { clip: clip.name }));
      item.append(button, " ", thumb(clip), " " + clip.name);
      return item;
    })
  );
}

// Metrics: rates from the difference of two readings.
let previous = null;
function parseMetrics(text) {
  const values = {};
  for (const line of text.split("\n")) {
    if (line && !line.startsWith("#")) {
      const [key, value] = line.split(" ");
      values[key] = Number(value);
    }
  }
  return values;
}
async function metrics() {
  const response = await fetch("metrics");
  if (!response.ok) return;
  const now = { at: performance.now(), values: parseMetrics(await response.text()) };
  const v = now.values;
  if (previous) {
    const seconds = (now.at - previous.at) / 1000;
    const delta = (key) => (v[key] - previous.values[key]) / seconds;
    $("m-fps").textContent = (delta("loopy_media_frames_total")).toFixed(1) + " fps";
    $("m-cpu").textContent = (100 * delta("loopy_process_cpu_seconds_total")).toFixed(1) + " % of a core";
  }
  $("m-bitrate").textContent = (v.loopy_stream_bitrate_bits_per_second / 1e6).toFixed(2) + " Mbit/s";
  $("m-viewers").textContent = v.loopy_viewers_estimate;
  $("m-drift").textContent = v.loopy_drift_seconds.toFixed(3) + " s";
  $("m-media").textContent = v.loopy_media_seconds.toFixed(1) + " s";
  $("m-segments").textContent = v.loopy_segments_total;
  $("m-transitions").textContent = v.loopy_transitions_encoded_total + " / " + v.loopy_transitions_cached_total;
  previous = now;
  const health = await fetch("healthz");
  $("health").textContent = health.ok ? "live" : "stalled";
  $("health").className = health.ok ? "ok" : "bad";
}

loadClips().then(refresh);
setInterval(refresh, 2000);
setInterval(metrics, 1000);
metrics();
