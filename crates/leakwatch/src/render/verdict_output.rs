//! The verdict as a command prints it: the pictures asked for, then the
//! verdict as JSON or as text for a person. `analyze`, `check` and `demo`
//! all end here.

use std::io::IsTerminal;

use crate::analysis::Judgement;
use crate::output;
use crate::render::report::PictureArgs;
use crate::render::verdict_text;

/// Writes the pictures of `j`, then prints its verdict on stdout.
pub fn show(j: &Judgement, json: bool, pictures: &PictureArgs) -> anyhow::Result<()> {
    let (rec, obs, verdict) = (&j.recording, &j.observations, &j.verdict);
    // Pictures first: a failure to write one stops before any verdict prints.
    pictures.write(rec, obs, verdict)?;
    if json {
        return output::println(&serde_json::to_string_pretty(verdict)?);
    }
    // The diff is evidence, not the verdict: if it cannot be computed the
    // verdict still prints, with the reason.
    let diff = obs.first_last_heap.as_ref().map(|(first, last)| {
        verdict_text::first_last_diff(first, last).unwrap_or_else(|e| format!("(no diff: {e:#})"))
    });
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut text = verdict_text::render(verdict, &obs.rss.y, diff.as_deref(), color);
    if !rec.is_complete() {
        text.push_str(&format!(
            "Note: {} has no end event: the watch is still running or was killed; this verdict covers what was recorded so far.\n",
            rec.dir.display()
        ));
    }
    output::print(&text)
}
