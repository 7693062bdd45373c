//! The command line, declared with clap's derive API.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "loopy",
    version,
    about = "Turn a folder of short seamless loops into long videos that never visibly repeat"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More detail on stderr (-vv also shows FFmpeg's own messages)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// How to show progress: a bar on a terminal (auto), JSON lines on stderr for
    /// programs (json), or nothing
    #[arg(long, value_enum, default_value = "auto", global = true)]
    pub progress: crate::progress::ProgressMode,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the clips of a folder: metadata, seamless-loop score, tags, and what is wrong with the rest
    Scan(ScanArgs),
    /// Plan a never-repeating sequence of clips and write it as JSON
    Plan(Box<PlanArgs>),
    /// Render a plan (or a folder, planned on the fly) into a finished video
    Render(Box<RenderArgs>),
    /// Encode every clip once into an output profile, so renders copy clip bodies and
    /// encode only cross-fades (smart render)
    Conform(Box<ConformArgs>),
    /// What the library's cache holds (every profile with its parameters, size and
    /// last use), and removing from it: stale entries, a profile, or what exceeds a size
    Cache(CacheArgs),
    /// Decode a range of a video's frames as raw RGB24 on stdout (for programs)
    Frames(FramesArgs),
    /// Encode raw RGB24 frames from stdin into a clip (for programs)
    MakeClip(Box<MakeClipArgs>),
    /// Stream the folder endlessly as live HLS, steerable over an HTTP API
    Serve(Box<ServeArgs>),
}

/// How to find the clips of a folder; shared by every command that reads one.
#[derive(Debug, Args, Clone)]
pub struct FolderArgs {
    /// File-name pattern to include (repeatable; default: mp4 mov mkv webm avi m4v, any case)
    #[arg(long = "pattern", value_name = "GLOB")]
    pub patterns: Vec<String>,
    /// Also look in sub-folders
    #[arg(long)]
    pub recursive: bool,
    /// Look at no more than N files
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max: Option<u64>,
    /// Neither read nor write DIR/.loopy/catalog.json
    #[arg(long)]
    pub no_cache: bool,
    /// Decode every frame of every clip (in parallel) and skip damaged ones, naming the
    /// frame and FFmpeg's message; remembered in the cache while a file is unchanged.
    /// With `render --plan`, the plan's clips are verified before rendering
    #[arg(long)]
    pub verify: bool,
    /// Skip the cut-point candidates a scan keeps by default (thumbnails of every
    /// frame, up to 30 a second, of each clip's first and last second, or a quarter of
    /// a short clip): a cold scan decodes about half as much, and plans cut at the
    /// clips' ends as with --whole-clips
    #[arg(long)]
    pub no_windows: bool,
    /// Keep the cut-point candidates (the default; kept for older scripts)
    #[arg(long, hide = true, conflicts_with = "no_windows")]
    pub windows: bool,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The clip folder
    pub dir: PathBuf,
    #[command(flatten)]
    pub folder: FolderArgs,
    /// Print the catalog as JSON on stdout instead of a table
    #[arg(long)]
    pub json: bool,
    /// Also write a PNG of every clip's first frame, tiled (up to 120 clips)
    #[arg(long, value_name = "FILE.png")]
    pub contact_sheet: Option<PathBuf>,
    /// Replace an existing contact sheet
    #[arg(long, requires = "contact_sheet")]
    pub force: bool,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("length").args(["duration", "count"]))]
pub struct PlanArgs {
    /// The clip folder (not needed with --stats)
    #[arg(required_unless_present = "stats")]
    pub dir: Option<PathBuf>,
    /// Print the statistics of an existing plan file instead of planning
    #[arg(long, value_name = "PLAN.json", conflicts_with_all = ["dir", "output"])]
    pub stats: Option<PathBuf>,
    #[command(flatten)]
    pub folder: FolderArgs,
    #[command(flatten)]
    pub plan: PlanOptionArgs,
    /// Write the plan here (default: print a summary only, or the plan with --json)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace an existing output file
    #[arg(long)]
    pub force: bool,
    /// Print the plan (or, with --stats, the statistics) as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

/// Everything that shapes a plan; `render` will take the same options.
#[derive(Debug, Args, Clone)]
pub struct PlanOptionArgs {
    /// Output length: 90, 90s, 30m, 1h30m, 2h
    #[arg(short, long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Plan exactly N clips instead of a duration
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Trim the last clip so the output lasts exactly --duration
    #[arg(long, conflicts_with = "count")]
    pub exact: bool,
    /// uniform, similarity (last frame → first frame; the default), learned (implied by
    /// --learn) or custom (implied by --matrix)
    #[arg(long)]
    pub mode: Option<String>,
    /// similarity: multiplies the library's calibrated σ (default 1); smaller prefers close matches more
    #[arg(long)]
    pub sigma: Option<f64>,
    /// learned: example sequence, one clip name per line, or an earlier plan.json
    #[arg(long, value_name = "FILE", conflicts_with = "matrix")]
    pub learn: Option<PathBuf>,
    /// learned: added to every transition count (default 0.1)
    #[arg(long)]
    pub smoothing: Option<f64>,
    /// custom: weight matrix, CSV with a header row of clip names, or JSON {"from": {"to": w}}
    #[arg(long, value_name = "FILE")]
    pub matrix: Option<PathBuf>,
    /// A clip used within the last W picks is not picked again while another is allowed (default 5)
    #[arg(long, value_name = "W")]
    pub history: Option<usize>,
    /// Never repeat a run of N clips while an alternative exists (default 4; 0 = off)
    #[arg(long, value_name = "N")]
    pub avoid_ngrams: Option<usize>,
    /// Steer by tag: TAG=VALUE with VALUE in [-1, 1] (repeatable)
    #[arg(long = "signal", value_name = "TAG=VALUE")]
    pub signals: Vec<String>,
    /// How strongly signals act (α in 1 + α·value·relevance; default 0.5)
    #[arg(long, requires = "signals")]
    pub signal_strength: Option<f64>,
    /// Random seed; a random one is chosen, printed and recorded when absent
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output frame rate, e.g. 30 or 30000/1001 (default: the most common clip rate)
    #[arg(long)]
    pub fps: Option<String>,
    /// Cross-fade between clips: 0.3s or 9f (default 0)
    #[arg(long)]
    pub crossfade: Option<String>,
    /// Cut only at the clips' ends, playing every clip whole (needed to copy packets).
    /// By default a plan leaves each clip on a frame of its last second and enters the
    /// next on a frame of its first (a quarter of a short clip), where the pictures
    /// and the motion around them match best
    #[arg(long)]
    pub whole_clips: bool,
    /// Cut inside the clips where they match best (the default; kept for older scripts)
    #[arg(long, hide = true, conflicts_with = "whole_clips")]
    pub cut_points: bool,
}

impl PlanOptionArgs {
    /// Whether the plan cuts inside the clips' windows (the default) or at their ends.
    pub fn cuts_inside(&self) -> bool {
        !self.whole_clips
    }
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The clip folder, planned with the options below (or use --plan)
    #[arg(required_unless_present = "plan")]
    pub dir: Option<PathBuf>,
    /// Render an existing plan file instead of planning
    #[arg(long, value_name = "PLAN.json", conflicts_with = "dir")]
    pub plan: Option<PathBuf>,
    /// The video to write; the container follows the extension (.mp4 .mov .mkv .webm)
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub folder: FolderArgs,
    #[command(flatten)]
    pub plan_options: PlanOptionArgs,
    #[command(flatten)]
    pub encode: EncodeArgs,
    /// Sound: an audio FILE looped or cut to the video's length, or `clips` for each
    /// clip's own sound, cross-faded with the picture (AAC in mp4/mov, Opus in mkv/webm)
    #[arg(long, value_name = "FILE|clips")]
    pub audio: Option<PathBuf>,
    /// auto: copy packets when every clip already matches the output; always: fail if impossible; never
    #[arg(long, default_value = "auto")]
    pub copy: String,
    /// auto: join conformed clips and encode only cross-fades when that encodes fewer
    /// frames than a full render, given what is conformed and cached already (the
    /// missing clips are conformed on the way); always: conform as needed, fail if
    /// impossible; never
    #[arg(long, default_value = "auto")]
    pub smart: String,
    /// Also write OUT.thumbs.png, one frame every --thumb-every
    #[arg(long)]
    pub thumbnails: bool,
    /// Interval between contact-sheet frames (default 10s)
    #[arg(long, value_name = "DURATION", requires = "thumbnails")]
    pub thumb_every: Option<String>,
    /// Replace broken clips with others instead of failing (recorded in OUT.plan.json)
    #[arg(long)]
    pub skip_bad: bool,
    /// Replace an existing output
    #[arg(long)]
    pub force: bool,
    /// Print a machine summary on stdout
    #[arg(long)]
    pub json: bool,
}

/// How the video is encoded: shared by `render` and `conform`.
#[derive(Debug, Args, Clone)]
pub struct EncodeArgs {
    /// Output size WxH, both even (default: the most common clip size)
    #[arg(long, value_name = "WxH")]
    pub size: Option<String>,
    /// How clips of another shape fill the frame: letterbox (black bars), crop or stretch
    #[arg(long, default_value = "letterbox")]
    pub fit: String,
    /// h264 (libx264), h265 (libx265), vp9 (libvpx-vp9), av1 (libsvtav1) or prores
    /// (prores_ks); default: vp9 for .webm, else h264
    #[arg(long)]
    pub codec: Option<String>,
    /// Constant quality (default: 23 h264, 28 h265, 32 vp9, 35 av1)
    #[arg(long, conflicts_with = "bitrate")]
    pub crf: Option<u32>,
    /// Encoder preset (default: veryfast for h264/h265, cpu-used 5 for vp9, 10 for av1, standard for prores)
    #[arg(long)]
    pub preset: Option<String>,
    /// Target bit rate instead of constant quality, e.g. 4M or 800k
    #[arg(long)]
    pub bitrate: Option<String>,
    /// Frames between keyframes (default: the encoder's; 2 s in smart-render pieces)
    #[arg(long, value_name = "N")]
    pub gop: Option<u32>,
    /// Output pixel format (default: yuv420p, yuv422p10le for prores)
    #[arg(long, value_name = "FMT")]
    pub pix_fmt: Option<String>,
    /// Encoder threads (default: as many as the encoder wants)
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ConformArgs {
    /// The clip folder
    pub dir: PathBuf,
    #[command(flatten)]
    pub folder: FolderArgs,
    /// Output frame rate, e.g. 30 or 30000/1001 (default: the most common clip rate)
    #[arg(long)]
    pub fps: Option<String>,
    /// Cross-fade the renders will use: 0.3s or 9f (IDR frames are placed for it)
    #[arg(long, default_value = "0")]
    pub crossfade: String,
    #[command(flatten)]
    pub encode: EncodeArgs,
    /// Also encode what every ordered pair of clips (n × (n − 1)) needs at a cut, so
    /// that a render of any plan, whatever its seed, encodes nothing: the cross-fade
    /// between the pair's best cut points, and the next clip's frames up to its next
    /// IDR frame when it is entered between two (whole clips: the cross-fade only)
    #[arg(long)]
    pub transitions: bool,
    /// Conform for plans made with --whole-clips: without the IDR frames every few
    /// frames of each clip's first second, where other plans enter clips
    #[arg(long)]
    pub whole_clips: bool,
    /// Conform for plans that cut inside the clips (the default; kept for older scripts)
    #[arg(long, hide = true, conflicts_with = "whole_clips")]
    pub cut_points: bool,
    /// Say what is conformed, for which profile, and how much disk it takes (as
    /// `loopy cache DIR`)
    #[arg(long, conflicts_with = "transitions")]
    pub status: bool,
    /// Print a machine summary on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    /// The clip folder
    pub dir: PathBuf,
    #[command(flatten)]
    pub folder: FolderArgs,
    /// Remove the entries of clips that changed or went away (the folder is scanned),
    /// left by an older Loopy or half-written, and profile folders left empty
    #[arg(long)]
    pub prune: bool,
    /// Remove one profile (its id as listed, or the start of it)
    #[arg(long, value_name = "ID")]
    pub remove: Option<String>,
    /// Remove entries, least recently used first, until the cache takes at most SIZE
    /// (e.g. 2G, 500M, 0 for everything)
    #[arg(long, value_name = "SIZE")]
    pub max_size: Option<String>,
    /// Print the listing (and what was removed) as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FramesArgs {
    /// The video to read
    pub video: PathBuf,
    /// First frame to write (0-based)
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Frames to write (default: to the end)
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Refuse (exit 2) when more than N frames would be written
    #[arg(long, value_name = "N")]
    pub max_frames: Option<u64>,
    /// Print the video's size, rate and frame count as JSON instead of frames
    #[arg(long)]
    pub info: bool,
}

#[derive(Debug, Args)]
pub struct MakeClipArgs {
    /// The clip to write; the container follows the extension (.mp4 .mov .mkv .webm)
    pub output: PathBuf,
    /// Size of the incoming frames, WxH (both even)
    #[arg(long, value_name = "WxH")]
    pub size: String,
    /// Frame rate, e.g. 24 or 30000/1001
    #[arg(long)]
    pub fps: String,
    /// h264 (libx264) or h265 (libx265)
    #[arg(long, default_value = "h264")]
    pub codec: String,
    /// Constant quality (default 18: clips are sources, kept close to the frames)
    #[arg(long, default_value_t = 18)]
    pub crf: u32,
    /// Encoder preset
    #[arg(long, default_value = "medium")]
    pub preset: String,
    /// Replace an existing file
    #[arg(long)]
    pub force: bool,
    /// Print a machine summary on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The clip folder
    pub dir: PathBuf,
    #[command(flatten)]
    pub folder: FolderArgs,
    #[command(flatten)]
    pub plan: PlanOptionArgs,
    #[command(flatten)]
    pub encode: EncodeArgs,
    /// Address to listen on (port 0 picks a free one)
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Bearer token for the control API (default: $LOOPY_TOKEN, else a random one,
    /// printed at start)
    #[arg(long, env = "LOOPY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Viewing (playlist, segments, state, metrics) needs the token too
    #[arg(long)]
    pub protect_viewing: bool,
    /// Segments listed in the playlist (at least 6, and at least 3 target durations)
    #[arg(long, default_value_t = 6)]
    pub window: usize,
    /// Produce as fast as the CPU allows instead of in real time (soak tests)
    #[arg(long)]
    pub unpaced: bool,
    /// Also write every segment and an EVENT playlist (stream.m3u8) into DIR
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Stop after this much media time (e.g. 24h), publishing the last segment
    #[arg(long, value_name = "DURATION")]
    pub stop_after: Option<String>,
    /// Also push the stream to an RTMP or SRT receiver (rtmp://host/app/key, srt://host:port),
    /// reconnecting with backoff when it goes away
    #[arg(long, value_name = "URL")]
    pub push: Option<String>,
    /// Sound: an audio FILE looped for as long as the stream runs (AAC, on the video's
    /// clock; not in the push)
    #[arg(long, value_name = "FILE")]
    pub audio: Option<PathBuf>,
}
