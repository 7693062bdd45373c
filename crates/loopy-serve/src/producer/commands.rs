//! Commands from the API, handled between frames (while a paced frame waits), each
//! answered with the media frame where it takes effect.

use super::{Cut, Live};
use crate::state::{Command, Effect, Request};
use loopy_media::smart::conform::conformed_frames;

impl Live {
    pub(super) fn poll_commands(&mut self) {
        while let Ok(request) = self.commands.try_recv() {
            self.handle(request);
        }
    }

    pub(super) fn handle(&mut self, request: Request) {
        let fps = self.profile.fps.as_f64();
        let at = |frame: u64| Effect {
            media_time: frame as f64 / fps,
            frame,
        };
        let answer = match request.command {
            Command::SetSignals(signals) => self
                .chain
                .set_signals(signals)
                .map(|()| {
                    if let Ok(mut status) = self.shared.status.write() {
                        status.signals = self.chain.signals().to_vec();
                    }
                    at(self.body_end_frame)
                })
                .map_err(|e| e.to_string()),
            Command::Queue(clip) => {
                // After the clips queued before it.
                let ahead: u64 = self
                    .chain
                    .queued()
                    .map(|c| {
                        conformed_frames(&self.clips[c], &self.profile).saturating_sub(self.k())
                    })
                    .sum();
                self.chain.queue(clip);
                if let Ok(mut status) = self.shared.status.write() {
                    status.queued.push(self.shared.library[clip].clone());
                }
                Ok(at(self.body_end_frame + ahead))
            }
            // On the next frame made, or after the cross-fade playing now.
            Command::Cut => {
                self.pending_cut = Cut::Crossfade;
                Ok(at(self.segmenter.next_frame().max(self.fade_end_frame)))
            }
            Command::Skip => {
                self.pending_cut = Cut::Hard;
                Ok(at(self.segmenter.next_frame().max(self.fade_end_frame)))
            }
        };
        let _ = request.reply.send(answer);
    }
}
