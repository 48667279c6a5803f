//! Which profile round to drop when there are too many: keep the first and
//! the last, and keep the rest spread as evenly over time as possible.

/// Given the times of the kept rounds (ascending), the index of the round to
/// remove: the interior round whose neighbours are closest together, so that
/// removing it opens the smallest gap. Repeated after every new round, this
/// keeps the survivors close to evenly spaced over the whole watch; the first
/// and the last are never chosen. `None` when there are fewer than three.
pub fn pick_victim(times: &[f64]) -> Option<usize> {
    if times.len() < 3 {
        return None;
    }
    let mut best = 1;
    let mut best_gap = f64::INFINITY;
    for i in 1..times.len() - 1 {
        let gap = times[i + 1] - times[i - 1];
        // Strictly smaller: among equal gaps the oldest goes, which keeps
        // the recent, denser end (where a verdict looks for recent growth).
        if gap < best_gap {
            best_gap = gap;
            best = i;
        }
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_the_first_or_last() {
        assert_eq!(pick_victim(&[0.0, 1.0]), None);
        assert_eq!(pick_victim(&[0.0, 5.0, 10.0]), Some(1));
    }

    #[test]
    fn survivors_end_up_evenly_spread() {
        // Feed 1000 rounds one second apart into a budget of 11.
        let mut kept: Vec<f64> = Vec::new();
        for t in 0..1000 {
            kept.push(t as f64);
            if kept.len() > 11 {
                let v = pick_victim(&kept).unwrap();
                kept.remove(v);
            }
        }
        assert_eq!(kept.len(), 11);
        assert_eq!(kept[0], 0.0);
        assert_eq!(*kept.last().unwrap(), 999.0);
        let gaps: Vec<f64> = kept.windows(2).map(|w| w[1] - w[0]).collect();
        let ideal = 999.0 / 10.0;
        for g in gaps {
            assert!(g < ideal * 2.5, "gap {g} vs ideal {ideal}: {kept:?}");
        }
    }
}
