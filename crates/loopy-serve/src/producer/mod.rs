//! The producer thread: walks the endless plan and builds the stream from closed GOPs
//! — clip bodies copied from the conformed clips, cross-fades taken from the
//! transition cache or encoded when first needed — into the segmenter's long-lived
//! muxers, the preview and the push (when on).
//!
//! Frames go out one by one (`frames`), each when the wall clock is one segment short
//! of its media time (`Live::lead`): a segment is complete when its start is due, and
//! a cut lands on the very next frame, mid-GOP if need be (the copied GOP just ends
//! there; no B-frames, so what was sent decodes), which is what keeps the preview's
//! latency under a second. Publishing segments is in `publish`, the API's commands in
//! `commands`.

use crate::hls::ClipChange;

mod commands;
mod frames;
mod publish;
mod repair;
use crate::resume::Resume;
use crate::state::{ClipRef, Counters, Request, Shared};
use ffmpeg_next as ff;
use loopy_core::live::LiveChain;
use loopy_core::plan::PlanClip;
use loopy_core::{Catalog, PlanOptions};
use loopy_media::cache::entry::{self, Verdict};
use loopy_media::cache::lock::ProfileLock;
use loopy_media::live::push::{Clock, Pusher};
use loopy_media::live::{read_gops, PreviewMuxer, Segmenter};
use loopy_media::render::audio::LiveAudio;
use loopy_media::smart::conform::conformed_frames;
use loopy_media::smart::pieces::{conformed_path, parameters, transition_path, triage};
use loopy_media::smart::transition::{cache_crossfade, encode_crossfade, tail_start, FadeStart};
use loopy_media::smart::Profile;
use loopy_media::RenderError;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many played clips the status keeps.
const HISTORY: usize = 20;

pub struct ProducerConfig {
    pub catalog: Catalog,
    pub plan: PlanOptions,
    pub profile: Profile,
    /// Publish in real time (false: as fast as the CPU allows, for soak tests).
    pub paced: bool,
    /// Longest segment, in frames (the profile's GOP, or the cross-fade if longer).
    pub segment_frames: u64,
    /// Also write every segment and an EVENT playlist here.
    pub record: Option<PathBuf>,
    /// Stop after this much media time (in frames) of this run.
    pub stop_after_frames: Option<u64>,
    /// Also push the stream to this RTMP or SRT URL.
    pub push: Option<String>,
    /// Sound: this file, looped for as long as the stream runs.
    pub audio: Option<PathBuf>,
}

/// Why the stream stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProducerError {
    #[error(transparent)]
    Plan(#[from] loopy_core::PlanError),
    #[error(transparent)]
    Media(#[from] RenderError),
}

/// Where the body of the current clip goes next, and how a requested cut is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    None,
    /// Cross-fade into the next clip at the next GOP start.
    Crossfade,
    /// Hard cut to the next clip's first frame at the next GOP start.
    Hard,
}

struct Live {
    shared: Arc<Shared>,
    commands: Receiver<Request>,
    stop: Arc<AtomicBool>,
    chain: LiveChain,
    clips: Vec<PlanClip>,
    root: PathBuf,
    profile: Profile,
    paced: bool,
    segmenter: Segmenter,
    preview: PreviewMuxer,
    sequence: u64,
    /// When each frame is due (its media time on the wall clock).
    clock: Clock,
    /// How long before it is due a frame is made: one segment.
    lead: Duration,
    changes: Vec<ClipChange>,
    pending_cut: Cut,
    /// Media frame at which the current clip's body ends (where the next clip begins).
    body_end_frame: u64,
    /// Media frame at which the cross-fade being played ends (a cut asked for during
    /// it starts there).
    fade_end_frame: u64,
    /// This run's first media frame (a restarted stream goes on from the last one).
    first_frame: u64,
    /// Runs of this stream before this one.
    runs: u64,
    recorder: Option<crate::record::Recorder>,
    stop_after_frames: Option<u64>,
    pusher: Option<Pusher>,
    audio: Option<(LiveAudio, ff::Rational)>,
    /// Clips whose damaged piece is being conformed again (in the background).
    repairs: repair::Repairs,
    /// Held for the stream's life: `loopy cache` removes nothing from under it.
    _in_use: ProfileLock,
}

/// Starts the producer; `done` fires when it ends (asked to stop, or on its own).
pub fn spawn(
    config: ProducerConfig,
    resume: Resume,
    shared: Arc<Shared>,
    commands: Receiver<Request>,
    stop: Arc<AtomicBool>,
    done: tokio::sync::oneshot::Sender<()>,
) -> std::io::Result<std::thread::JoinHandle<Result<(), ProducerError>>> {
    std::thread::Builder::new()
        .name("loopy-producer".into())
        .spawn(move || {
            let result = run(config, resume, shared, commands, stop);
            if let Err(e) = &result {
                tracing::error!("the stream stopped: {e}");
            }
            let _ = done.send(());
            result
        })
}

fn run(
    config: ProducerConfig,
    resume: Resume,
    shared: Arc<Shared>,
    commands: Receiver<Request>,
    stop: Arc<AtomicBool>,
) -> Result<(), ProducerError> {
    let root = PathBuf::from(&config.catalog.root);
    let clips: Vec<PlanClip> = config
        .catalog
        .clips
        .iter()
        .map(PlanClip::from_clip)
        .collect();
    let (mut chain, warnings) = LiveChain::new(config.catalog, config.plan)?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    let in_use = config.profile.share(&root)?;
    let first = chain.next_clip();
    let params = parameters(&conformed_path(&config.profile, &root, &clips[first]))?;
    let fps = config.profile.fps;
    let first_frame = (resume.next_time_s.max(0.0) * fps.as_f64()).ceil() as u64;
    let clock = Clock {
        origin: Instant::now(),
        first_frame,
        fps,
    };
    let lead = Duration::from_secs_f64(config.segment_frames as f64 / fps.as_f64());
    let audio = match &config.audio {
        Some(path) => {
            let start = (first_frame * fps.den(), fps.num());
            let audio = LiveAudio::open(path, start)?;
            let (_, time_base) = audio.stream_info();
            Some((audio, time_base))
        }
        None => None,
    };
    let audio_stream = audio.as_ref().map(|(a, _)| a.stream_info());
    let pusher = config
        .push
        .clone()
        .map(|url| Pusher::start(url, params.clone(), audio_stream.clone(), clock));
    if let Some(pusher) = &pusher {
        if let Ok(mut stats) = shared.push.lock() {
            *stats = Some(Arc::clone(&pusher.stats));
        }
    }
    let segmenter = Segmenter::new(
        params.clone(),
        audio_stream,
        fps,
        config.segment_frames,
        first_frame,
    )?;
    if let Ok(mut init) = shared.init_segment.write() {
        *init = segmenter.init_segment().to_vec().into();
    }
    let preview = PreviewMuxer::new(params, segmenter.frame_time_base())?;
    shared.preview.set_init(preview.init_segment());
    let recorder = match &config.record {
        Some(dir) => Some(
            crate::record::Recorder::create(
                dir,
                shared.target_duration,
                resume.next_sequence,
                fps.as_f64(),
            )
            .map_err(|source| RenderError::Io {
                path: dir.clone(),
                source,
            })?,
        ),
        None => None,
    };
    let mut live = Live {
        shared,
        commands,
        stop,
        chain,
        clips,
        root,
        profile: config.profile,
        paced: config.paced,
        segmenter,
        preview,
        sequence: resume.next_sequence,
        clock,
        lead,
        changes: Vec::new(),
        pending_cut: Cut::None,
        body_end_frame: first_frame,
        fade_end_frame: first_frame,
        first_frame,
        runs: resume.runs,
        recorder,
        stop_after_frames: config.stop_after_frames,
        pusher,
        audio,
        repairs: repair::Repairs::default(),
        _in_use: in_use,
    };
    live.clip_started(first, first_frame);
    let result = live.play_from(first);
    // Whatever ended the stream, what was muxed is published.
    if let Ok(Some(last)) = live.segmenter.flush() {
        live.publish(last);
    }
    if let Some(recorder) = live.recorder.as_mut() {
        if let Err(e) = recorder.finish() {
            tracing::error!("--record: {e}");
        }
    }
    result
}

impl Live {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn k(&self) -> u64 {
        self.profile.crossfade
    }

    /// Plays clip after clip until asked to stop.
    fn play_from(&mut self, first: usize) -> Result<(), ProducerError> {
        let (mut current, mut from) = (first, 0);
        while !self.stopped() {
            let len = conformed_frames(&self.clips[current], &self.profile);
            let body_end = len.saturating_sub(self.k()).max(from);
            self.body_end_frame = self.segmenter.next_frame() + (body_end - from);
            let (cut_at, how) = match self.play_body(current, from, body_end) {
                Ok(cut) => cut,
                Err(e) => {
                    // A clip that fails mid-stream is left at once; the stream goes on.
                    self.clip_failed(current, &e.to_string());
                    (None, Cut::Hard)
                }
            };
            if self.stopped() {
                break;
            }
            let next = self.chain.next_clip();
            // Commands from now on take effect when the next clip's body ends.
            self.body_end_frame = self.segmenter.next_frame()
                + conformed_frames(&self.clips[next], &self.profile).saturating_sub(self.k());
            from = match (how, self.k()) {
                (Cut::Hard, _) | (_, 0) => {
                    self.clip_started(next, self.segmenter.next_frame());
                    0
                }
                _ => {
                    let start = cut_at.unwrap_or_else(|| {
                        FadeStart::at_key(tail_start(&self.profile, &self.clips[current]))
                    });
                    match self.play_crossfade(current, start, next, cut_at.is_some()) {
                        Ok(()) => self.k(),
                        Err(e) => {
                            Counters::add(&self.shared.counters.errors, 1);
                            tracing::error!(
                                "cross-fade {} → {}: {e}; cutting instead",
                                self.clips[current].path,
                                self.clips[next].path
                            );
                            0
                        }
                    }
                }
            };
            current = next;
        }
        Ok(())
    }

    /// Copies the body `from..to` of `clip`, frame by frame; stops at the first frame
    /// at which a cut is asked for. Returns where it stopped (for a cut) and how to go
    /// on.
    fn play_body(
        &mut self,
        clip: usize,
        from: u64,
        to: u64,
    ) -> Result<(Option<FadeStart>, Cut), RenderError> {
        let piece = conformed_path(&self.profile, &self.root, &self.clips[clip]);
        self.usable(clip, &piece)?;
        let mut stopped_at: Option<(FadeStart, Cut)> = None;
        read_gops(&piece, from, to, |gop| {
            if stopped_at.is_some() || self.stopped() {
                return Ok(());
            }
            let key = gop.start;
            if let Some(i) = self.play_gop(gop, true)? {
                if !self.stopped() {
                    let at = FadeStart {
                        key,
                        frame: key + i,
                    };
                    stopped_at = Some((at, self.pending_cut));
                    self.pending_cut = Cut::None;
                }
            }
            Ok(())
        })?;
        let cut = stopped_at.unwrap_or((FadeStart::at_key(to), self.pending_cut));
        // A cut asked for as the body ended is the ordinary change of clip.
        self.pending_cut = Cut::None;
        Ok(match cut {
            (at, Cut::None) if at.frame == to => (None, Cut::None),
            (at, Cut::Crossfade) if at.frame == to => (None, Cut::Crossfade),
            (at, how) => (Some(at), how),
        })
    }

    /// The cross-fade from `a` (its frames `start..start + k`) into `b`: the cached
    /// transition when `start` is A's tail, else (a cut) one encoded for the moment.
    fn play_crossfade(
        &mut self,
        a: usize,
        start: FadeStart,
        b: usize,
        cut: bool,
    ) -> Result<(), RenderError> {
        // Both clips' pieces are checked before frames are taken from them.
        for clip in [a, b] {
            let piece = conformed_path(&self.profile, &self.root, &self.clips[clip]);
            self.usable(clip, &piece)?;
        }
        let (clip_a, clip_b) = (&self.clips[a], &self.clips[b]);
        let cached = transition_path(&self.profile, &self.root, clip_a, clip_b);
        // A cut's cross-fade is played from its temporary file, removed afterwards.
        let mut cut_piece = None;
        if cut {
            let dir = self.root.join(".loopy").join("serve");
            let target = dir.join(format!("cut-{}.mkv", std::process::id()));
            let started = Instant::now();
            let temp = encode_crossfade(&self.profile, &self.root, clip_a, start, clip_b, &target)?;
            self.encoded(started);
            Counters::add(&self.shared.counters.cuts, 1);
            cut_piece = Some(temp);
        } else if self.triage(&cached).is_good() {
            Counters::add(&self.shared.counters.transitions_cached, 1);
        } else {
            let started = Instant::now();
            cache_crossfade(&self.profile, &self.root, clip_a, clip_b)?;
            self.encoded(started);
        }
        let path = cut_piece.as_ref().map_or(cached.as_path(), |t| t.path());
        let path = path.to_path_buf();
        self.clip_started(b, self.segmenter.next_frame());
        self.fade_end_frame = self.segmenter.next_frame() + self.k();
        let played = read_gops(&path, 0, self.k(), |gop| {
            if !self.stopped() {
                self.play_gop(gop, false)?;
            }
            Ok(())
        });
        played.map(|_| ())
    }

    fn encoded(&self, started: Instant) {
        let counters = &self.shared.counters;
        Counters::add(
            &counters.encode_micros,
            started.elapsed().as_micros() as u64,
        );
        Counters::add(&counters.transitions_encoded, 1);
    }

    /// Checks a cache entry before it is played: a damaged one is removed (so that
    /// it is made again), counted and logged.
    fn triage(&self, piece: &Path) -> Verdict {
        let verdict = triage(piece, false);
        if let Verdict::Damaged(reason) = &verdict {
            Counters::add(&self.shared.counters.cache_damaged, 1);
            tracing::error!("cache entry {} is damaged: {reason}", piece.display());
        }
        verdict
    }

    /// Whether `clip`'s conformed piece can be played: when it is damaged or gone it
    /// is conformed again in the background, and the caller goes on with another
    /// clip (the error is announced as the clip's failure).
    fn usable(&mut self, clip: usize, piece: &Path) -> Result<(), RenderError> {
        let reason = match self.triage(piece) {
            Verdict::Good(_) => return Ok(()),
            Verdict::Missing if self.repairs.underway(clip) => "being conformed again".into(),
            Verdict::Missing => "its conformed piece is missing".to_string(),
            Verdict::Damaged(reason) => format!("its conformed piece is damaged ({reason})"),
        };
        self.repairs
            .start(clip, &self.clips[clip], &self.profile, &self.root);
        Err(RenderError::Ffmpeg(format!(
            "{reason}; it is conformed again"
        )))
    }

    /// A clip that could not be played: counted, logged and announced, never fatal.
    fn clip_failed(&mut self, clip: usize, reason: &str) {
        let name = &self.clips[clip].path;
        Counters::add(&self.shared.counters.clip_failures, 1);
        tracing::error!("{name}: {reason}; going on with the next clip");
        let event = serde_json::json!({
            "clip": name,
            "reason": reason,
            "at_s": self.segmenter.next_frame() as f64 / self.profile.fps.as_f64(),
        });
        let _ = self.shared.events.send(("clip_failed", event.to_string()));
    }

    /// Notes that `clip` begins at media frame `frame` (for the playlist and status).
    fn clip_started(&mut self, clip: usize, frame: u64) {
        let name = self.clips[clip].path.clone();
        self.changes.push(ClipChange { frame, clip: name });
        let since = frame as f64 / self.profile.fps.as_f64();
        let queued: Vec<ClipRef> = self
            .chain
            .queued()
            .map(|i| self.shared.library[i].clone())
            .collect();
        if let Ok(mut status) = self.shared.status.write() {
            let now = self.shared.library[clip].clone();
            status.history.push(now.clone());
            let excess = status.history.len().saturating_sub(HISTORY);
            status.history.drain(..excess);
            status.now_playing = Some(now);
            status.now_playing_since = since;
            status.queued = queued;
            status.signals = self.chain.signals().to_vec();
            if let Ok(json) = serde_json::to_string(&*status) {
                // Nobody listening is fine.
                let _ = self.shared.events.send(("clip", json));
            }
        }
    }
}

/// Conformed pieces the stream needs, checked (by checksum) before it starts.
pub fn missing_pieces(profile: &Profile, root: &Path, catalog: &Catalog) -> Vec<String> {
    catalog
        .clips
        .iter()
        .map(PlanClip::from_clip)
        .filter(|clip| !entry::check(&conformed_path(profile, root, clip)).is_good())
        .map(|clip| clip.path)
        .collect()
}
