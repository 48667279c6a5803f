//! Trend statistics: the Theil–Sen slope with Sen's confidence interval and
//! the Mann–Kendall trend test with the Hamed–Rao (1998) correction for
//! autocorrelation.
//!
//! Everything here is pure arithmetic on `(time, value)` points. Pairs are
//! only formed *within* a segment (the samples of one process lifetime), so a
//! restart's drop never reads as a downward trend and a sawtooth still shows
//! the growth of each tooth; with several segments this is the stratified
//! ("seasonal") Kendall test of Hirsch, Slack & Smith (1982): the scores and
//! variances of the segments add up.
//!
//! The work is quadratic in the points of a segment, so a series longer than
//! [`MAX_POINTS`] is first reduced by [`bin_medians`]; see `docs/method.md`.

use std::ops::Range;

/// [`trend`] of a series that is one segment.
pub fn trend_single(t: &[f64], y: &[f64]) -> Option<Trend> {
    let whole = 0..t.len();
    trend(t, y, std::slice::from_ref(&whole))
}

/// The two-sided 95% quantile of the standard normal distribution, Φ⁻¹(0.975).
pub const Z_95: f64 = 1.959_963_984_540_054;

/// Above this many points a series is binned before the pairwise work:
/// 1500 points are 1.1 million pairs, a few tens of milliseconds.
pub const MAX_POINTS: usize = 1500;

/// The outcome of the trend test and slope estimate on one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    /// Points used (after binning).
    pub n: usize,
    /// Mann–Kendall score S: concordant minus discordant pairs.
    pub s: f64,
    /// Variance of S under "no trend", ties and autocorrelation accounted for.
    pub var_s: f64,
    /// The Hamed–Rao variance inflation factor n/n* applied to `var_s`
    /// (1 when no autocorrelation was significant).
    pub var_factor: f64,
    /// The standardised score, continuity corrected.
    pub z: f64,
    /// Two-sided p-value of "no trend".
    pub p_value: f64,
    /// Theil–Sen slope: the median of the pairwise slopes, value per time unit.
    pub slope: f64,
    /// Lower end of the 95% confidence interval of the slope.
    pub slope_low: f64,
    /// Upper end of the 95% confidence interval of the slope.
    pub slope_high: f64,
}

impl Trend {
    /// Whether the series rises significantly at level `alpha` (two-sided
    /// test, positive direction), and the slope's interval lies above zero.
    pub fn rising(&self, alpha: f64) -> bool {
        self.s > 0.0 && self.p_value < alpha && self.slope > 0.0
    }
}

/// Mann–Kendall with the Hamed–Rao correction plus Theil–Sen, on points `t`
/// (strictly increasing within each segment) and `y`, pairing only points of
/// the same segment. Segments are index ranges into `t`/`y`;
/// [`trend_single`] is the one-segment case. Returns `None` when no segment has two points.
pub fn trend(t: &[f64], y: &[f64], segments: &[Range<usize>]) -> Option<Trend> {
    assert_eq!(t.len(), y.len(), "trend: times and values differ in length");
    let mut s_total = 0.0;
    let mut var_total = 0.0;
    let mut var_raw_total = 0.0;
    let mut slopes = Vec::new();
    let mut n_total = 0;
    for seg in segments {
        let (ts, ys) = (&t[seg.clone()], &y[seg.clone()]);
        if ts.len() < 2 {
            n_total += ts.len();
            continue;
        }
        n_total += ts.len();
        let first_slope = slopes.len();
        s_total += score_and_slopes(ts, ys, &mut slopes);
        let var = tie_corrected_variance(ys);
        // Detrend by this segment's own slope before looking for
        // autocorrelation, as Hamed & Rao do.
        let seg_slope = median(&mut slopes[first_slope..].to_vec());
        let factor = seg_slope.map_or(1.0, |b| hamed_rao_factor(ts, ys, b));
        var_raw_total += var;
        var_total += var * factor;
    }
    if slopes.is_empty() {
        return None;
    }
    let z = if var_total > 0.0 {
        (s_total - s_total.signum()) / var_total.sqrt()
    } else {
        0.0
    };
    let p_value = (2.0 * normal_sf(z.abs())).min(1.0);
    let nt = slopes.len();
    let (low_idx, high_idx) = sen_interval_indices(nt, var_total);
    let slope = median(&mut slopes).unwrap_or(0.0);
    let slope_low = order_statistic(&mut slopes, low_idx);
    let slope_high = order_statistic(&mut slopes, high_idx);
    Some(Trend {
        n: n_total,
        s: s_total,
        var_s: var_total,
        var_factor: if var_raw_total > 0.0 {
            var_total / var_raw_total
        } else {
            1.0
        },
        z,
        p_value,
        slope,
        slope_low,
        slope_high,
    })
}

/// The Mann–Kendall score of one segment; pushes every pairwise slope with a
/// positive time step onto `slopes`.
fn score_and_slopes(t: &[f64], y: &[f64], slopes: &mut Vec<f64>) -> f64 {
    let mut s = 0i64;
    for i in 0..t.len() {
        for j in i + 1..t.len() {
            let dt = t[j] - t[i];
            let dy = y[j] - y[i];
            s += sign(dy) * sign(dt);
            if dt > 0.0 {
                slopes.push(dy / dt);
            }
        }
    }
    s as f64
}

fn sign(v: f64) -> i64 {
    if v > 0.0 {
        1
    } else if v < 0.0 {
        -1
    } else {
        0
    }
}

/// Var(S) under the null with the usual correction for tied values.
fn tie_corrected_variance(y: &[f64]) -> f64 {
    let n = y.len() as f64;
    let mut sorted = y.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i + 1;
        while j < sorted.len() && sorted[j] == sorted[i] {
            j += 1;
        }
        let k = (j - i) as f64;
        ties += k * (k - 1.0) * (2.0 * k + 5.0);
        i = j;
    }
    (n * (n - 1.0) * (2.0 * n + 5.0) - ties) / 18.0
}

/// Hamed & Rao (1998): n/n* = 1 + 2/(n(n−1)(n−2)) Σ (n−i)(n−i−1)(n−i−2) ρ(i),
/// summed over the lags whose autocorrelation of the detrended ranks is
/// significant at 5%. Floored at 1: the correction only ever widens the
/// variance. Negative autocorrelation would shrink it, and on the few dozen
/// points of a short check that shrink is unstable (it can even go below
/// zero), turning noise into a confident trend — the false positives this
/// correction exists to prevent.
fn hamed_rao_factor(t: &[f64], y: &[f64], slope: f64) -> f64 {
    let n = y.len();
    if n < 3 {
        return 1.0;
    }
    let detrended: Vec<f64> = t.iter().zip(y).map(|(t, y)| y - slope * t).collect();
    let r = ranks(&detrended);
    let acf = autocorrelation(&r);
    let bound = Z_95 / (n as f64).sqrt();
    let nf = n as f64;
    let mut sum = 0.0;
    for (lag, &rho) in acf.iter().enumerate().skip(1) {
        if rho.abs() > bound {
            let l = lag as f64;
            sum += (nf - l) * (nf - l - 1.0) * (nf - l - 2.0) * rho;
        }
    }
    (1.0 + 2.0 / (nf * (nf - 1.0) * (nf - 2.0)) * sum).max(1.0)
}

/// Ranks 1..=n, ties given their average rank.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i + 1;
        while j < idx.len() && v[idx[j]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j + 1) as f64 / 2.0;
        for &k in &idx[i..j] {
            r[k] = avg;
        }
        i = j;
    }
    r
}

/// Sample autocorrelation at lags 0..n−1 (biased estimator, divided by n).
fn autocorrelation(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mean = x.iter().sum::<f64>() / n as f64;
    let d: Vec<f64> = x.iter().map(|v| v - mean).collect();
    let c0: f64 = d.iter().map(|v| v * v).sum();
    if c0 == 0.0 {
        return vec![1.0];
    }
    (0..n)
        .map(|lag| {
            d[..n - lag]
                .iter()
                .zip(&d[lag..])
                .map(|(a, b)| a * b)
                .sum::<f64>()
                / c0
        })
        .collect()
}

/// Sen (1968): the ranks of the pairwise slopes bounding the confidence
/// interval, C = z·√Var(S), lower = (N − C)/2, upper = (N + C)/2; 0-based,
/// rounded as scipy's `theilslopes` does so the two agree exactly.
fn sen_interval_indices(nt: usize, var_s: f64) -> (usize, usize) {
    let c = Z_95 * var_s.max(0.0).sqrt();
    let nt_f = nt as f64;
    let low = ((nt_f - c) / 2.0).round_ties_even() - 1.0;
    let high = ((nt_f + c) / 2.0).round_ties_even();
    let low = low.max(0.0) as usize;
    let high = (high.max(0.0) as usize).min(nt - 1);
    (low.min(nt - 1), high)
}

/// One-sided Mann–Whitney (Wilcoxon rank-sum) test that `later` tends to
/// be larger than `earlier`: the p-value from the normal approximation with
/// continuity and tie corrections. 1 when either sample is empty.
pub fn rank_sum_greater(earlier: &[f64], later: &[f64]) -> f64 {
    let (n1, n2) = (earlier.len() as f64, later.len() as f64);
    if earlier.is_empty() || later.is_empty() {
        return 1.0;
    }
    let all: Vec<f64> = earlier.iter().chain(later).copied().collect();
    let r = ranks(&all);
    let rank_later: f64 = r[earlier.len()..].iter().sum();
    let u = rank_later - n2 * (n2 + 1.0) / 2.0;
    let n = n1 + n2;
    let mut sorted = all.clone();
    sorted.sort_unstable_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let j = sorted[i..].iter().take_while(|v| **v == sorted[i]).count() + i;
        let k = (j - i) as f64;
        ties += k * k * k - k;
        i = j;
    }
    let var = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    let z = (u - n1 * n2 / 2.0 - 0.5) / var.sqrt();
    normal_sf(z)
}

/// The median, averaging the two middle values of an even count.
pub fn median(v: &mut [f64]) -> Option<f64> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    let upper = order_statistic(v, n / 2);
    if n % 2 == 1 {
        return Some(upper);
    }
    // After selecting n/2, everything left of it is no greater.
    let lower = v[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((lower + upper) / 2.0)
}

/// The k-th smallest value (0-based), in linear time; reorders `v`.
fn order_statistic(v: &mut [f64], k: usize) -> f64 {
    *v.select_nth_unstable_by(k, f64::total_cmp).1
}

/// Reduces a long series to at most `max` points by grouping consecutive
/// points into equal-count bins, each represented by its median time and
/// median value. Deterministic, keeps the series' shape, and the medians
/// shrug off single outliers (a GC pause, one slow scrape).
pub fn bin_medians(t: &[f64], y: &[f64], max: usize) -> (Vec<f64>, Vec<f64>) {
    if t.len() <= max || max == 0 {
        return (t.to_vec(), y.to_vec());
    }
    let per = t.len().div_ceil(max);
    let mut bt = Vec::with_capacity(max);
    let mut by = Vec::with_capacity(max);
    for (tc, yc) in t.chunks(per).zip(y.chunks(per)) {
        bt.push(median(&mut tc.to_vec()).unwrap_or(0.0));
        by.push(median(&mut yc.to_vec()).unwrap_or(0.0));
    }
    (bt, by)
}

/// Upper tail of the standard normal distribution, 1 − Φ(z).
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function, from the Chebyshev fit in Press et al.,
/// *Numerical Recipes* (2nd ed., §6.2): fractional error below 1.2·10⁻⁷
/// everywhere, which keeps even tiny p-values meaningful.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(n: usize) -> Vec<f64> {
        (0..n).map(|i| i as f64).collect()
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-12)
    }

    #[test]
    fn normal_tail_matches_known_values() {
        assert!(close(normal_sf(0.0), 0.5, 1e-7));
        assert!(close(normal_sf(Z_95), 0.025, 1e-6));
        // scipy.stats.norm.sf(4) and norm.sf(-1.5)
        assert!(close(normal_sf(4.0), 3.167_124_183_311_998e-5, 1e-6));
        assert!(close(normal_sf(-1.5), 0.933_192_798_731_141_9, 1e-6));
    }

    #[test]
    fn rank_sum_matches_reference() {
        // scipy.stats.mannwhitneyu(later, earlier, alternative="greater",
        // method="asymptotic", use_continuity=True)
        let earlier = [6.3, 6.9, 6.9, 7.5, 8.0];
        let later = [8.5, 10.1, 13.0, 12.3, 12.3];
        assert!(close(
            rank_sum_greater(&earlier, &later),
            REF_RS_SEPARATED,
            1e-6
        ));
        let a = [1.0, 3.0, 5.0, 7.0, 9.0, 9.0];
        let b = [2.0, 4.0, 6.0, 9.0, 10.0];
        assert!(close(rank_sum_greater(&a, &b), REF_RS_MIXED, 1e-6));
        assert_eq!(rank_sum_greater(&[], &b), 1.0);
    }
    const REF_RS_SEPARATED: f64 = 0.005_833_656_171_659_693;
    const REF_RS_MIXED: f64 = 0.391_126_034_943_731_9;

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    // Reference values below come from pymannkendall 1.4.3
    // (`hamed_rao_modification_test`) and scipy 1.17 (`theilslopes`,
    // alpha=0.95); the script is in docs/method.md.

    /// A short noisy series with no significant autocorrelation: the
    /// correction factor is 1 and the test is the plain Mann–Kendall one.
    #[test]
    fn matches_reference_on_a_noisy_rising_series() {
        let y = [
            10.0, 12.0, 11.0, 14.0, 13.0, 15.0, 18.0, 16.0, 17.0, 20.0, 19.0, 22.0,
        ];
        let tr = trend_single(&idx(y.len()), &y).unwrap();
        assert_eq!(tr.s, 56.0);
        assert!(close(tr.var_s, 212.666_666_666_666_66, 1e-9), "{tr:?}");
        assert_eq!(tr.var_factor, 1.0);
        assert!(
            close(tr.p_value, 0.000_162_275_566_476_077_77, 1e-5),
            "{tr:?}"
        );
        assert!(close(tr.slope, 1.0, 1e-12), "{tr:?}");
        assert!(close(tr.slope_low, 0.75, 1e-12), "{tr:?}");
        assert!(close(tr.slope_high, 1.25, 1e-12), "{tr:?}");
    }

    #[test]
    fn ties_reduce_the_variance() {
        let y = [1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 4.0, 5.0, 5.0, 6.0];
        let tr = trend_single(&idx(y.len()), &y).unwrap();
        // n(n-1)(2n+5)/18 = 125; ties 3×(3·2·11) → −66/18, 2 pairs of two.
        let expected = (10.0 * 9.0 * 25.0 - 3.0 * 2.0 * 11.0 - 2.0 * (2.0 * 1.0 * 9.0)) / 18.0;
        assert!(close(tr.var_s / tr.var_factor, expected, 1e-12), "{tr:?}");
    }

    /// A trend under a slow oscillation: the detrended ranks are strongly
    /// autocorrelated, so Hamed–Rao inflates the variance and the p-value.
    #[test]
    fn matches_reference_with_autocorrelation() {
        let n = 60;
        let t = idx(n);
        let y: Vec<f64> = t
            .iter()
            .map(|&i| 0.05 * i + (i / 6.0).sin() * 2.0)
            .collect();
        let tr = trend_single(&t, &y).unwrap();
        assert_eq!(tr.s, REF_AC_S);
        assert!(close(tr.var_s, REF_AC_VAR, 1e-6), "{tr:?} vs {REF_AC_VAR}");
        assert!(close(tr.p_value, REF_AC_P, 1e-4), "{tr:?} vs {REF_AC_P}");
        assert!(close(tr.slope, REF_AC_SLOPE, 1e-9), "{tr:?}");
        assert!(close(tr.slope_low, REF_AC_LOW, 1e-9), "{tr:?}");
        assert!(close(tr.slope_high, REF_AC_HIGH, 1e-9), "{tr:?}");
        assert!(tr.var_factor > 4.0, "{tr:?}");
        // Plain Mann–Kendall would call this significant (p = 0.00049).
        assert!(!tr.rising(0.05), "{tr:?}");
    }
    const REF_AC_S: f64 = 548.0;
    const REF_AC_VAR: f64 = 112_726.416_002_369_72;
    const REF_AC_P: f64 = 0.103_270_627_248_896_35;
    const REF_AC_SLOPE: f64 = 0.046_707_132_810_159_535;
    // Sen's interval with the corrected variance.
    const REF_AC_LOW: f64 = -0.016_090_032_072_577_608;
    const REF_AC_HIGH: f64 = 0.101_384_821_538_058_76;

    #[test]
    fn flat_series_has_no_trend() {
        let y = [5.0; 20];
        let tr = trend_single(&idx(20), &y).unwrap();
        assert_eq!(tr.s, 0.0);
        assert_eq!(tr.p_value, 1.0);
        assert_eq!(tr.slope, 0.0);
        assert!(!tr.rising(0.05));
    }

    #[test]
    fn segments_pair_only_within_themselves() {
        // Two teeth of a sawtooth: each rises, the drop between them must
        // not count against the trend.
        let t = idx(20);
        let y: Vec<f64> = (0..20).map(|i| (i % 10) as f64).collect();
        let one = trend_single(&t, &y).unwrap();
        let two = trend(&t, &y, &[0..10, 10..20]).unwrap();
        assert!(!one.rising(0.01) || one.slope < 1.0);
        assert_eq!(two.s, 90.0);
        assert_eq!(two.slope, 1.0);
        assert!(two.rising(0.001), "{two:?}");
    }

    #[test]
    fn too_few_points_give_none() {
        assert!(trend_single(&[1.0], &[1.0]).is_none());
        assert!(trend(&[], &[], &[]).is_none());
    }

    #[test]
    fn binning_keeps_long_series_bounded_and_shaped() {
        let n = 10_080; // a week of one-minute samples
        let t = idx(n);
        let y: Vec<f64> = t.iter().map(|&i| 3.0 * i).collect();
        let (bt, by) = bin_medians(&t, &y, MAX_POINTS);
        assert!(bt.len() <= MAX_POINTS && bt.len() > MAX_POINTS / 2);
        let tr = trend_single(&bt, &by).unwrap();
        assert!(close(tr.slope, 3.0, 1e-9));
    }
}
