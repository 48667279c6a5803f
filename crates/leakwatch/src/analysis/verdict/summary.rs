//! The summary: the paragraph of English that says what was decided and
//! why, with the figures a person needs to act on it.

use std::time::Duration;

use super::sawtooth::Sawtooth;
use super::{Decision, GoroutineSite, LeakKind, Limit, LimitSource, Site};
use crate::analysis::growth::{Assessment, Shape, Thresholds, TooFew};
use crate::analysis::series::Observations;
use crate::analysis::stats::Trend;
use crate::units::{format_bytes, format_bytes_f64, format_duration};

/// Everything the summary draws on.
pub(super) struct Facts<'a> {
    /// What was observed.
    pub(super) obs: &'a Observations,
    /// RSS's assessment, or why there is none.
    pub(super) rss_a: &'a Result<Assessment, TooFew>,
    /// The heap's assessment, or why there is none.
    pub(super) heap_a: &'a Result<Assessment, TooFew>,
    /// The goroutine count's assessment, or why there is none.
    pub(super) gr_a: &'a Result<Assessment, TooFew>,
    /// RSS growth nothing Go accounts for, bytes per second, when native.
    pub(super) native: Option<f64>,
    /// The growing heap sites, steepest first.
    pub(super) sites: &'a [Site],
    /// The growing goroutine sites, steepest first.
    pub(super) goroutine_sites: &'a [GoroutineSite],
    /// The limit and when it is reached.
    pub(super) limit: Option<&'a Limit>,
    /// Lifetimes that grew and died, when there are any.
    pub(super) sawtooth: Option<&'a Sawtooth>,
    /// Whether the heap's growth was put down to the goroutine leak.
    pub(super) heap_follows_goroutines: bool,
    /// RSS's detectable slope, bytes per second (see `rules::detectable`).
    pub(super) rss_detectable: Option<f64>,
    /// The heap signal's detectable slope, bytes per second.
    pub(super) heap_detectable: Option<f64>,
}

/// The sawtooth in one sentence, for the summary and its event.
pub(super) fn sawtooth_sentence(s: &Sawtooth) -> String {
    let times = if s.teeth == 1 {
        "once".to_owned()
    } else {
        format!("{} times", s.teeth)
    };
    let how = if s.oom_kills > 0 {
        format!(" ({} OOM-killed)", s.oom_kills)
    } else {
        String::new()
    };
    format!(
        "the process died {times}{how} after growing to about {} each time, every {} or so",
        format_bytes_f64(s.peak),
        human_secs(s.period)
    )
}

fn human_secs(s: f64) -> String {
    format_duration(Duration::from_secs_f64(s.max(0.0)))
}

fn rate(slope_per_s: f64) -> String {
    format!("{}/h", format_bytes_f64(slope_per_s * 3600.0))
}

fn rate_with_interval(t: &Trend) -> String {
    format!(
        "{} (95% CI {} – {})",
        rate(t.slope),
        format_bytes_f64(t.slope_low * 3600.0),
        rate(t.slope_high)
    )
}

/// A count in thousands or millions past 10 000, for reading at a glance.
fn count(n: f64) -> String {
    if n >= 1e7 {
        format!("{:.1}M", n / 1e6)
    } else if n >= 1e4 {
        format!("{:.0}k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

fn count_rate(slope_per_s: f64) -> String {
    let per_hour = slope_per_s * 3600.0;
    if per_hour >= 100.0 {
        format!("{}/h", count(per_hour))
    } else {
        format!("{per_hour:.1}/h")
    }
}

fn site_phrase(site: &Site) -> String {
    let mut s = site.function.clone();
    if let Some(caller) = site.stack.get(1) {
        s.push_str(" ← ");
        s.push_str(caller);
    }
    if let (Some(file), Some(line)) = (&site.file, site.line) {
        let base = file.rsplit('/').next().unwrap_or(file);
        s.push_str(&format!(" ({base}:{line})"));
    }
    s
}

fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

/// The summary paragraph.
pub(super) fn paragraph(verdict: Decision, kind: &[LeakKind], f: &Facts) -> String {
    let mut parts: Vec<String> = Vec::new();
    match verdict {
        Decision::Inconclusive => parts.push(inconclusive_sentence(f)),
        Decision::NoLeak => parts.push(no_leak_sentence(f)),
        Decision::Leak => {
            if kind.contains(&LeakKind::Heap) {
                let a = f.heap_a.as_ref().expect("heap leak has an assessment");
                let heap = f.obs.heap_signal();
                let lifetimes = heap.segments().len();
                // Across restarts, first and last value are two young
                // processes: the growth is within each lifetime.
                let mut s = if lifetimes >= 2 {
                    format!(
                        "Heap grows {} within each of {lifetimes} process lifetimes over {}",
                        rate_with_interval(&a.whole),
                        human_secs(a.span)
                    )
                } else {
                    format!(
                        "Heap grows {} from {} to {} over {}",
                        rate_with_interval(&a.whole),
                        format_bytes_f64(heap.first().unwrap_or(0.0)),
                        format_bytes_f64(heap.last().unwrap_or(0.0)),
                        human_secs(a.span)
                    )
                };
                // Objects tell many small allocations from a few growing
                // buffers (a slice that doubles adds bytes, not objects).
                if let (Some(first), Some(last)) =
                    (f.obs.heap_objects.first(), f.obs.heap_objects.last())
                {
                    if last > first && lifetimes < 2 {
                        s.push_str(&format!(
                            " ({} → {} live objects)",
                            count(first),
                            count(last)
                        ));
                    }
                }
                match f.sites.first() {
                    Some(site) => s.push_str(&format!(
                        "; {} of it is {}",
                        percent(site.share),
                        site_phrase(site)
                    )),
                    None => s.push_str("; no single site stands out"),
                }
                parts.push(s + ".");
            }
            if kind.contains(&LeakKind::Goroutines) {
                let proof = f.obs.goroutine_leak.as_ref().filter(|p| p.total > 0);
                let trend = f.gr_a.as_ref().ok().filter(|a| a.growing());
                let mut s = String::new();
                if let Some(p) = proof {
                    s.push_str(&format!(
                        "Go's goroutine leak detector proves {} goroutine(s) leaked: blocked where nothing reachable can ever wake them",
                        p.total
                    ));
                    if let Some(site) = f.goroutine_sites.first() {
                        s.push_str(&format!(
                            ", {} of them in {}",
                            site.proven_leaked.unwrap_or(0),
                            site.function
                        ));
                        if let Some(caller) = site.stack.get(1) {
                            s.push_str(&format!(" ← {caller}"));
                        }
                    }
                    if trend.is_some() {
                        s.push_str(". ");
                    }
                }
                if let Some(a) = trend {
                    s.push_str(&format!(
                        "Goroutines grow {} ({} → {})",
                        count_rate(a.whole.slope),
                        f.obs.goroutines.first().unwrap_or(0.0),
                        f.obs.goroutines.last().unwrap_or(0.0)
                    ));
                }
                if let Some(site) = f.goroutine_sites.first().filter(|_| proof.is_none()) {
                    s.push_str(&format!(
                        "; {} of them are blocked in {}",
                        percent(site.share),
                        site.function
                    ));
                    if let Some(caller) = site.stack.get(1) {
                        s.push_str(&format!(" ← {caller}"));
                    }
                }
                if f.heap_follows_goroutines {
                    if let Ok(h) = f.heap_a {
                        s.push_str(&format!(
                            "; the heap grows {} with them (their runtime bookkeeping and what they hold)",
                            rate(h.whole.slope)
                        ));
                    }
                }
                parts.push(s + ".");
            }
            if let Some(unexplained) = f.native {
                let r = f.rss_a.as_ref().expect("native leak has an RSS assessment");
                parts.push(format!(
                    "RSS grows {} but the Go heap and runtime account for little of it: about {} is allocated outside Go's heap (cgo or C libraries).",
                    rate_with_interval(&r.whole),
                    rate(unexplained)
                ));
            }
            if kind.contains(&LeakKind::Rss) {
                let r = f.rss_a.as_ref().expect("rss leak has an assessment");
                parts.push(format!(
                    "RSS grows {} from {} to {} over {}; there are no heap profiles to say where (watch with --pprof to find the site).",
                    rate_with_interval(&r.whole),
                    format_bytes_f64(f.obs.rss.first().unwrap_or(0.0)),
                    format_bytes_f64(f.obs.rss.last().unwrap_or(0.0)),
                    human_secs(r.span)
                ));
            }
            if let Some(l) = f.limit {
                parts.push(limit_sentence(l));
            }
        }
    }
    parts.extend(unseen(verdict, f));
    if let Some(s) = f.sawtooth {
        let mut sentence = sawtooth_sentence(s);
        if let Some(c) = sentence.get_mut(0..1) {
            c.make_ascii_uppercase();
        }
        parts.push(format!("Sawtooth: {sentence}."));
    }
    if !f.obs.unreadable.is_empty() {
        parts.push(format!(
            "{} profile(s) could not be read and were skipped.",
            f.obs.unreadable.len()
        ));
    }
    parts.join(" ")
}

/// What the recording could not see, keyed on what it lacks (as a watch
/// without a PID lacks /proc and the cgroup): said so that a "no leak" or
/// a leak's figures are not read as covering it.
fn unseen(verdict: Decision, f: &Facts) -> Vec<String> {
    let mut out = Vec::new();
    let go_only = !f.obs.heap.is_empty() || !f.obs.go_mapped.is_empty();
    if f.obs.rss.is_empty() && go_only {
        out.push(
            "No RSS was read (no /proc of the process, and no process_resident_memory_bytes in its metrics): growth outside Go's heap (cgo, C libraries) cannot be seen here, only what Go's runtime accounts for."
                .to_owned(),
        );
    }
    if verdict == Decision::Leak && f.limit.is_none() && f.obs.cgroup.is_empty() {
        out.push(
            "No memory limit is known (no cgroup was read): give --limit SIZE for the time to it."
                .to_owned(),
        );
    }
    out
}

fn limit_sentence(l: &Limit) -> String {
    let what = match l.source {
        LimitSource::Cgroup => format!("the {} cgroup limit", format_bytes(l.bytes as i64)),
        LimitSource::Flag => format!("the {} limit", format_bytes(l.bytes as i64)),
        LimitSource::PrometheusQuery => {
            format!("the {} limit from Prometheus", format_bytes(l.bytes as i64))
        }
    };
    match (l.time_to_limit_seconds, l.time_to_limit_low_seconds, l.time_to_limit_high_seconds) {
        (Some(0.0), _, _) => format!("The process is already at {what}."),
        (Some(t), Some(lo), Some(hi)) => format!(
            "At this rate {what} is reached in {} ({} – {}).",
            human_secs(t),
            human_secs(lo),
            human_secs(hi)
        ),
        (Some(t), Some(lo), None) => format!(
            "At this rate {what} is reached in {} (at the soonest {}; the slowest rate the data allow never reaches it).",
            human_secs(t),
            human_secs(lo)
        ),
        _ => format!("The growth does not show in the memory {what} applies to yet."),
    }
}

fn no_leak_sentence(f: &Facts) -> String {
    let mut s = String::from("No leak: ");
    let (name, a, series, detectable) = match f.heap_a {
        Ok(a) => ("heap", a, f.obs.heap_signal(), f.heap_detectable),
        Err(_) => (
            "RSS",
            f.rss_a.as_ref().expect("no_leak has a primary series"),
            &f.obs.rss,
            f.rss_detectable,
        ),
    };
    let level = format_bytes_f64(a.level);
    // A step up early in the window followed by a flat stretch reads as
    // Flat when the step is too short for the trend test, and as Plateaued
    // when it is long enough; either way it is a warm-up.
    let rise = a.level - series.first().unwrap_or(a.level);
    let warmed_up = rise >= Thresholds::BYTES.min_absolute_change
        && rise >= Thresholds::BYTES.min_relative_change * a.level;
    match a.shape {
        Shape::Plateaued | Shape::Flat if warmed_up => {
            let recent_span = a
                .recent
                .as_ref()
                .map_or(0.0, |_| a.span * Thresholds::BYTES.recent_fraction);
            s.push_str(&format!(
                "{name} grew from {} to {} early in the {} window and then held flat for its last {} — a warm-up, then a plateau",
                format_bytes_f64(series.first().unwrap_or(0.0)),
                level,
                human_secs(a.span),
                human_secs(recent_span)
            ));
        }
        Shape::Slight => s.push_str(&format!(
            "{name} drifts up {} around {level}, {} over {} — too little to matter yet",
            rate(a.whole.slope),
            format_bytes_f64(a.change),
            human_secs(a.span)
        )),
        _ => s.push_str(&format!(
            "{name} stays around {level} over {} (trend {}, p = {:.2})",
            human_secs(a.span),
            rate(a.whole.slope),
            a.whole.p_value
        )),
    }
    if name == "heap" {
        if let Ok(r) = f.rss_a {
            let what = match r.shape {
                Shape::Growing => "rises, but Go's runtime accounts for the rise (garbage awaiting collection, not a leak)",
                Shape::Plateaued => "rose and levelled off",
                _ => "has no sustained growth",
            };
            s.push_str(&format!("; RSS ({}) {what}", format_bytes_f64(r.level)));
        }
    }
    if let Ok(g) = f.gr_a {
        if g.shape != Shape::Growing {
            s.push_str(&format!("; goroutines steady around {:.0}", g.level));
        }
    }
    s.push('.');
    // What the "no" is worth: the slowest leak this window would have
    // caught, from the same series the sentence is about.
    if let Some(d) = detectable {
        s.push_str(&format!(
            " No leak faster than {} could hide in this window.",
            rate(d)
        ));
    }
    s
}

fn inconclusive_sentence(f: &Facts) -> String {
    let (what, series, need) = if !f.obs.heap.is_empty() {
        ("heap profiles", &f.obs.heap, f.heap_a.as_ref().err())
    } else {
        ("RSS samples", &f.obs.rss, f.rss_a.as_ref().err())
    };
    let mut s = String::from("Inconclusive: too little data for a verdict. ");
    let have = series.len();
    let need = need.map_or(Thresholds::BYTES.min_points(), |e| e.need);
    s.push_str(&format!(
        "The window holds {have} {what} over {}; a verdict needs at least {need}, the fewest with which the trend test could tell growth from noise",
        human_secs(f.obs.window.duration_seconds)
    ));
    if have >= 2 {
        let interval = (series.t[have - 1] - series.t[0]) / (have - 1) as f64;
        let more = interval * need.saturating_sub(have) as f64;
        s.push_str(&format!(
            " — about {} more at one every {}",
            human_secs(more),
            human_secs(interval)
        ));
    }
    s.push('.');
    if f.obs.heap.is_empty() && f.obs.rss.is_empty() {
        s.push_str(" The recording has neither samples nor profiles: is the target alive and the pprof URL right?");
    } else if f.obs.heap.is_empty() {
        s.push_str(" With --pprof, heap profiles would also say where memory goes.");
    }
    s
}
