//! `--record DIR`: every segment also written to disk, with an EVENT playlist listing
//! them all, so a stream can be kept (and a soak run checked end to end afterwards).

use crate::hls::HlsSegment;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct Recorder {
    dir: PathBuf,
    playlist: File,
    fps: f64,
}

impl Recorder {
    pub fn create(
        dir: &Path,
        target_duration: u64,
        first_sequence: u64,
        fps: f64,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut playlist = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(dir.join("stream.m3u8"))?;
        write!(
            playlist,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-TARGETDURATION:{target_duration}\n#EXT-X-MEDIA-SEQUENCE:{first_sequence}\n"
        )?;
        Ok(Recorder {
            dir: dir.to_path_buf(),
            playlist,
            fps,
        })
    }

    pub fn add(&mut self, segment: &HlsSegment) -> std::io::Result<()> {
        let name = format!("{:09}.ts", segment.sequence);
        std::fs::write(self.dir.join(&name), &segment.ts)?;
        if segment.discontinuity {
            writeln!(self.playlist, "#EXT-X-DISCONTINUITY")?;
        }
        write!(
            self.playlist,
            "#EXTINF:{:.3},\n{name}\n",
            segment.frames as f64 / self.fps
        )
    }

    pub fn finish(&mut self) -> std::io::Result<()> {
        writeln!(self.playlist, "#EXT-X-ENDLIST")?;
        self.playlist.flush()
    }
}
