//! The live view's body: the report's sections for the recording so far,
//! without the parts that need whole profiles decoded, re-rendered by the
//! live server's analyst whenever the recording grew.

use std::path::Path;

use maud::html;

use crate::analysis::Judgement;
use crate::render::html::sections;
use crate::render::report::{memory_plot, report_without_evidence};

/// The body for a judged recording.
pub fn view(j: &Judgement) -> String {
    let (rec, obs, v) = (&j.recording, &j.observations, &j.verdict);
    let plot = memory_plot(rec, obs, v);
    match report_without_evidence(rec, obs, v, plot) {
        Ok(report) => html! {
            p.target {
                (report.target)
                @if !rec.is_complete() {
                    " " span.interim title="The watch is still running: this verdict covers what was recorded so far and may change." { "interim" }
                }
            }
            (sections(&report, false))
        }
        .into_string(),
        Err(e) => unreadable(&rec.dir, &format!("cannot draw the view: {e:#}")),
    }
}

/// The body before the recording exists.
pub fn waiting(dir: &Path) -> String {
    html! {
        p.note { "Waiting for the watch to write its first samples to " code { (dir.display().to_string()) } "…" }
    }
    .into_string()
}

/// The body when the recording cannot be read (yet).
pub fn unreadable(dir: &Path, why: &str) -> String {
    html! {
        p.note { "The recording " code { (dir.display().to_string()) } " cannot be read yet: " (why) }
    }
    .into_string()
}
