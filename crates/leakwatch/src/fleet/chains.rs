//! From Prometheus series to what the verdict reads: one memory series per
//! instance (or, with `--group-by`, per workload whose pods replaced one
//! another), split into process lifetimes at its restarts.
//!
//! A restart is where the process's `process_start_time_seconds` (same
//! labels as the memory series) changes; without that series, where the
//! memory drops suddenly (by a quarter of its level and far more than its
//! usual step) or the series has a gap longer than Prometheus' five-minute
//! lookback. Under `--group-by`, each series of the group is one pod or
//! container: they are chained oldest first, and where two overlap (a
//! rolling update) the newer one takes over at its first point, the older
//! one's later points being dropped, as the replacement is what keeps
//! running.

use std::collections::BTreeMap;

use super::prometheus::{Labels, RangeSeries};
use crate::analysis::series::Lifetime;
use crate::analysis::stats;

/// A drop by at least this fraction of the level is a restart candidate.
const DROP_FRACTION: f64 = 0.25;
/// ...when it is also this many times the series' median step.
const DROP_NOISE_MULTIPLE: f64 = 6.0;
/// A gap longer than this many steps, and than Prometheus' lookback, is a
/// process that was gone.
const GAP_STEPS: f64 = 3.0;
const LOOKBACK_SECONDS: f64 = 300.0;

/// One instance's (or workload's) memory, ready for the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    /// The labels all its series share (without `__name__`).
    pub labels: Labels,
    /// Seconds since the window's start.
    pub t: Vec<f64>,
    /// Bytes.
    pub y: Vec<f64>,
    /// Its process lifetimes, oldest first.
    pub lifetimes: Vec<Lifetime>,
}

impl Chain {
    /// Lifetimes that ended inside the window.
    pub fn restarts(&self) -> usize {
        self.lifetimes.iter().filter(|l| l.died).count()
    }
}

/// `labels` without `__name__`: how a memory series and its process's
/// start time are joined.
pub fn identity(labels: &Labels) -> Labels {
    let mut l = labels.clone();
    l.remove("__name__");
    l
}

/// Whether `labels` has every `--group-by` label (and there are some).
fn grouped(labels: &Labels, group_by: &[String]) -> bool {
    !group_by.is_empty() && group_by.iter().all(|k| labels.contains_key(k))
}

/// Builds the chains of one batch. `starts` are the
/// `process_start_time_seconds` series of the same batch (empty when
/// unknown); times become seconds since `origin` (Unix seconds).
pub fn build(
    memory: Vec<RangeSeries>,
    starts: &[RangeSeries],
    group_by: &[String],
    origin: f64,
    step: f64,
) -> Vec<Chain> {
    let start_of: BTreeMap<Labels, &RangeSeries> =
        starts.iter().map(|s| (identity(&s.labels), s)).collect();
    let mut groups: BTreeMap<Vec<String>, Vec<RangeSeries>> = BTreeMap::new();
    for s in memory {
        // A series without every --group-by label is its own chain.
        let key: Vec<String> = if grouped(&s.labels, group_by) {
            std::iter::once("group".to_owned())
                .chain(group_by.iter().map(|k| s.labels[k].clone()))
                .collect()
        } else {
            std::iter::once("series".to_owned())
                .chain(identity(&s.labels).into_iter().flat_map(|(k, v)| [k, v]))
                .collect()
        };
        groups.entry(key).or_default().push(s);
    }
    groups
        .into_values()
        .map(|members| chain(members, &start_of, origin, step))
        .collect()
}

fn chain(
    mut members: Vec<RangeSeries>,
    start_of: &BTreeMap<Labels, &RangeSeries>,
    origin: f64,
    step: f64,
) -> Chain {
    members.sort_by(|a, b| a.t[0].total_cmp(&b.t[0]));
    let labels = common_labels(&members);
    let mut out = Chain {
        labels,
        t: Vec::new(),
        y: Vec::new(),
        lifetimes: Vec::new(),
    };
    for k in 0..members.len() {
        let m = &members[k];
        let until = members.get(k + 1).map_or(f64::INFINITY, |n| n.t[0]);
        let n = m.t.partition_point(|&t| t < until);
        if n == 0 {
            continue;
        }
        let (t, y) = (&m.t[..n], &m.y[..n]);
        let begins = match start_of.get(&identity(&m.labels)) {
            Some(st) => restarts_from_start_times(t, st),
            None => restarts_from_drops(t, y, step),
        };
        if let Some(prev) = out.lifetimes.last_mut() {
            prev.died = true;
        }
        let mut lifetime_start = t[0] - origin;
        for i in 0..n {
            let begins_here = begins.binary_search_by(|(j, _)| j.cmp(&i));
            if let Ok(b) = begins_here {
                if let Some(prev) = out.lifetimes.last_mut() {
                    prev.died = true;
                }
                lifetime_start = begins[b].1 - origin;
            }
            if i == 0 || begins_here.is_ok() {
                out.lifetimes.push(Lifetime {
                    pid: out.lifetimes.len() as u32,
                    start: lifetime_start,
                    end: t[i] - origin,
                    died: false,
                    oom_killed: false,
                });
            }
            if let Some(l) = out.lifetimes.last_mut() {
                l.end = t[i] - origin;
            }
            out.t.push(t[i] - origin);
            out.y.push(y[i]);
        }
    }
    out
}

/// The labels every member has with the same value, without `__name__`.
fn common_labels(members: &[RangeSeries]) -> Labels {
    let mut common = members
        .first()
        .map(|m| identity(&m.labels))
        .unwrap_or_default();
    for m in &members[1..] {
        common.retain(|k, v| m.labels.get(k) == Some(v));
    }
    common
}

/// Indices where a new process starts, with its start time (Unix
/// seconds): where `process_start_time_seconds` changes. The start is
/// kept between the two points around the change, where the verdict's
/// lifetimes need it.
fn restarts_from_start_times(t: &[f64], st: &RangeSeries) -> Vec<(usize, f64)> {
    let at = |time: f64| {
        let i = st.t.partition_point(|&x| x < time - 0.5);
        (i < st.t.len() && (st.t[i] - time).abs() <= 0.5).then(|| st.y[i])
    };
    let mut out = Vec::new();
    let mut last = at(t[0]);
    for i in 1..t.len() {
        let now = at(t[i]);
        if let (Some(a), Some(b)) = (last, now) {
            if (b - a).abs() > 0.5 {
                out.push((i, b.clamp(t[i - 1] + 1e-3, t[i])));
            }
        }
        if now.is_some() {
            last = now;
        }
    }
    out
}

/// Indices where a new process starts, recognised without its start time:
/// a sudden drop, or a gap longer than Prometheus' lookback.
fn restarts_from_drops(t: &[f64], y: &[f64], step: f64) -> Vec<(usize, f64)> {
    if t.len() < 3 {
        return Vec::new();
    }
    let mut steps: Vec<f64> = y.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    let typical = stats::median(&mut steps).unwrap_or(0.0);
    let gap = (GAP_STEPS * step).max(LOOKBACK_SECONDS);
    (1..t.len())
        .filter(|&i| {
            let drop = y[i - 1] - y[i];
            let sudden = drop > DROP_FRACTION * y[i - 1] && drop > DROP_NOISE_MULTIPLE * typical;
            sudden || t[i] - t[i - 1] > gap
        })
        .map(|i| (i, t[i]))
        .collect()
}

/// The limit of a chain among the `--limit-query` series: joined on the
/// `--group-by` labels when the chain has them, else on the labels both
/// share (at least one; the series sharing the most wins).
pub fn limit_for(chain: &Labels, limits: &[(Labels, f64)], group_by: &[String]) -> Option<f64> {
    let mut best: Option<(usize, f64)> = None;
    for (labels, value) in limits {
        let shared: Vec<&String> = if !grouped(chain, group_by) {
            labels
                .keys()
                .filter(|k| *k != "__name__" && chain.contains_key(*k))
                .collect()
        } else {
            group_by.iter().collect()
        };
        let matches = !shared.is_empty() && shared.iter().all(|k| labels.get(*k) == chain.get(*k));
        if matches && best.is_none_or(|(n, _)| shared.len() > n) {
            best = Some((shared.len(), *value));
        }
    }
    best.map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(labels: &[(&str, &str)], t: &[f64], y: &[f64]) -> RangeSeries {
        RangeSeries {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            t: t.to_vec(),
            y: y.to_vec(),
        }
    }

    #[test]
    fn a_drop_is_a_restart_and_noise_is_not() {
        let t: Vec<f64> = (0..20).map(|i| 1000.0 + 60.0 * f64::from(i)).collect();
        let y: Vec<f64> = (0..20)
            .map(|i| 100.0 + 10.0 * f64::from(i % 10) + f64::from(i % 3))
            .collect();
        let c = build(
            vec![series(&[("instance", "a")], &t, &y)],
            &[],
            &[],
            1000.0,
            60.0,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].lifetimes.len(), 2, "{:?}", c[0].lifetimes);
        assert!(c[0].lifetimes[0].died && !c[0].lifetimes[1].died);
        assert_eq!(c[0].lifetimes[1].start, 600.0);
        assert_eq!(c[0].restarts(), 1);
    }

    #[test]
    fn start_times_split_lifetimes_even_without_a_drop() {
        let t: Vec<f64> = (0..10).map(|i| 60.0 * f64::from(i)).collect();
        let y = vec![100.0; 10];
        let st: Vec<f64> = (0..10).map(|i| if i < 4 { -50.0 } else { 200.0 }).collect();
        let mem = series(&[("__name__", "rss"), ("instance", "a")], &t, &y);
        let start = series(&[("__name__", "start"), ("instance", "a")], &t, &st);
        let c = build(vec![mem], &[start], &[], 0.0, 60.0);
        assert_eq!(c[0].lifetimes.len(), 2);
        assert_eq!(c[0].lifetimes[1].start, 200.0);
        assert!(!c[0].labels.contains_key("__name__"));
    }

    #[test]
    fn group_by_chains_pods_and_the_newer_takes_over() {
        let a = series(
            &[("app", "x"), ("pod", "x-1")],
            &[0.0, 60.0, 120.0, 180.0],
            &[1.0, 2.0, 3.0, 4.0],
        );
        let b = series(
            &[("app", "x"), ("pod", "x-2")],
            &[150.0, 210.0],
            &[1.0, 2.0],
        );
        let other = series(&[("app", "y"), ("pod", "y-1")], &[0.0], &[5.0]);
        let loose = series(&[("pod", "z-1")], &[0.0], &[5.0]);
        let loose2 = series(&[("pod", "z-2")], &[0.0], &[5.0]);
        let c = build(
            vec![b, a, other, loose, loose2],
            &[],
            &["app".to_owned()],
            0.0,
            60.0,
        );
        assert_eq!(c.len(), 4, "series without the label stay apart");
        let x = &c[0];
        assert_eq!(x.t, vec![0.0, 60.0, 120.0, 150.0, 210.0]);
        assert_eq!(x.lifetimes.len(), 2);
        assert!(x.lifetimes[0].died);
        assert_eq!(x.labels, Labels::from([("app".to_owned(), "x".to_owned())]));
    }

    #[test]
    fn limits_join_on_shared_labels_or_group_by() {
        let chain: Labels = [("namespace", "a"), ("pod", "p1"), ("container", "c")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let l = |pairs: &[(&str, &str)], v: f64| {
            (
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<Labels>(),
                v,
            )
        };
        let limits = vec![
            l(&[("namespace", "a")], 1.0),
            l(&[("namespace", "a"), ("pod", "p1")], 2.0),
            l(&[("namespace", "a"), ("pod", "p2")], 3.0),
        ];
        assert_eq!(limit_for(&chain, &limits, &[]), Some(2.0));
        assert_eq!(limit_for(&chain, &limits[2..], &[]), None);
        assert_eq!(
            limit_for(&chain, &limits[2..], &["namespace".into()]),
            Some(3.0)
        );
    }
}
