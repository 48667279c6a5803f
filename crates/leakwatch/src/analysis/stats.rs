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
//! Kendall's S and the Theil–Sen order statistics take O(n log n) (see
//! [`kendall_s`] and [`PairSlopes`]); a series longer than [`MAX_POINTS`] is
//! still reduced by [`bin_medians`] to bound memory; see `docs/method.md`.

use std::cmp::Ordering;
use std::ops::Range;

/// [`trend`] of a series that is one segment.
pub fn trend_single(t: &[f64], y: &[f64]) -> Option<Trend> {
    let whole = 0..t.len();
    trend(t, y, std::slice::from_ref(&whole))
}

/// The longest lag whose autocorrelation Hamed–Rao looks at. Every lag of
/// a series of n points costs O(n²); bounding them keeps the correction at
/// O(n·MAX_LAG). Series of up to MAX_LAG + 1 points see every lag, as in
/// Hamed & Rao; beyond, the dropped far lags carry the weights
/// (n−l)(n−l−1)(n−l−2), already small for l > n/2, and are the least
/// reliable estimates.
pub const MAX_LAG: usize = 1500;

/// The two-sided 95% quantile of the standard normal distribution, Φ⁻¹(0.975).
pub const Z_95: f64 = 1.959_963_984_540_054;

/// Above this many points a series is binned before the trend work. With
/// the O(n log n) statistics the bound is time, no longer pairs: 20 000
/// points (two weeks of one-minute samples) take about half a second per
/// series, measured in docs/method.md.
pub const MAX_POINTS: usize = 20_000;

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
        rises(self.s, self.p_value, self.slope, alpha)
    }
}

fn rises(s: f64, p_value: f64, slope: f64, alpha: f64) -> bool {
    s > 0.0 && p_value < alpha && slope > 0.0
}

/// Mann–Kendall with the Hamed–Rao correction plus Theil–Sen, on points `t`
/// (strictly increasing within each segment) and `y`, pairing only points of
/// the same segment. Segments are index ranges into `t`/`y`;
/// [`trend_single`] is the one-segment case. Returns `None` when no segment has two points.
pub fn trend(t: &[f64], y: &[f64], segments: &[Range<usize>]) -> Option<Trend> {
    trend_lifted(t, y, segments).map(|(trend, _)| trend)
}

/// [`trend`], and what of it a search over added slopes can keep (see
/// [`Lift`]).
pub fn trend_lifted(t: &[f64], y: &[f64], segments: &[Range<usize>]) -> Option<(Trend, Lift)> {
    trend_with_budget(t, y, segments, BAND_PER_POINT * t.len().max(1024) as u64)
}

/// [`trend`] with the band budget of [`PairSlopes`] given, so the tests can
/// drive small series through the sampling path.
fn trend_with_budget(
    t: &[f64],
    y: &[f64],
    segments: &[Range<usize>],
    budget: u64,
) -> Option<(Trend, Lift)> {
    assert_eq!(t.len(), y.len(), "trend: times and values differ in length");
    let mut slopes = PairSlopes::new(t, y, segments, budget);
    let factors = segment_factors(t, y, segments, &mut slopes, budget);
    let test = mann_kendall(t, y, segments, &factors);
    if slopes.pairs == 0 {
        return None;
    }
    let nt = slopes.pairs as usize;
    let (low_idx, high_idx) = sen_interval_indices(nt, test.var_s);
    let slope = slopes.median().unwrap_or(0.0);
    let slope_low = slopes.kth(low_idx as u64);
    let slope_high = slopes.kth(high_idx as u64);
    let trend = Trend {
        n: test.n,
        s: test.s,
        var_s: test.var_s,
        var_factor: test.var_factor,
        z: test.z,
        p_value: test.p_value,
        slope,
        slope_low,
        slope_high,
    };
    Some((trend, Lift { slope, factors }))
}

/// The Hamed–Rao factor of each segment (1 for one of fewer than two
/// points), each detrended by its own Theil–Sen slope before looking for
/// autocorrelation, as Hamed & Rao do.
fn segment_factors(
    t: &[f64],
    y: &[f64],
    segments: &[Range<usize>],
    slopes: &mut PairSlopes,
    budget: u64,
) -> Vec<f64> {
    let single = slopes.segments.len() == 1;
    segments
        .iter()
        .map(|seg| {
            if seg.len() < 2 {
                return 1.0;
            }
            let seg_slope = if single {
                slopes.median()
            } else {
                PairSlopes::new(t, y, std::slice::from_ref(seg), budget).median()
            };
            seg_slope.map_or(1.0, |b| {
                hamed_rao_factor(&t[seg.clone()], &y[seg.clone()], b)
            })
        })
        .collect()
}

/// The stratified Mann–Kendall test with each segment's variance inflated
/// by its factor.
struct KendallTest {
    n: usize,
    s: f64,
    var_s: f64,
    var_factor: f64,
    z: f64,
    p_value: f64,
}

fn mann_kendall(t: &[f64], y: &[f64], segments: &[Range<usize>], factors: &[f64]) -> KendallTest {
    let mut s_total = 0.0;
    let mut var_total = 0.0;
    let mut var_raw_total = 0.0;
    let mut n_total = 0;
    for (seg, factor) in segments.iter().zip(factors) {
        let (ts, ys) = (&t[seg.clone()], &y[seg.clone()]);
        n_total += ts.len();
        if ts.len() < 2 {
            continue;
        }
        let (s, var) = kendall(ts, ys);
        s_total += s;
        var_raw_total += var;
        var_total += var * factor;
    }
    let z = if var_total > 0.0 {
        (s_total - s_total.signum()) / var_total.sqrt()
    } else {
        0.0
    };
    KendallTest {
        n: n_total,
        s: s_total,
        var_s: var_total,
        var_factor: if var_raw_total > 0.0 {
            var_total / var_raw_total
        } else {
            1.0
        },
        z,
        p_value: (2.0 * normal_sf(z.abs())).min(1.0),
    }
}

/// What of [`trend`] stays put when a steady slope is added to a series:
/// every pairwise slope moves by exactly that slope, so the Theil–Sen
/// slope does too, and the residuals the Hamed–Rao factors are computed
/// from are unchanged. Only Kendall's S and the ties move, which cost
/// O(n log n) — so a search over added slopes (the detectable slope) need
/// not select a single pairwise slope again.
#[derive(Debug, Clone, PartialEq)]
pub struct Lift {
    slope: f64,
    factors: Vec<f64>,
}

/// The test [`Lift::test`] gives: [`Trend`] without the slope's interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiftedTrend {
    /// Mann–Kendall score S.
    pub s: f64,
    /// The Hamed–Rao variance inflation applied, as [`Trend::var_factor`].
    pub var_factor: f64,
    /// Two-sided p-value of "no trend".
    pub p_value: f64,
    /// Theil–Sen slope.
    pub slope: f64,
}

impl LiftedTrend {
    /// As [`Trend::rising`].
    pub fn rising(&self, alpha: f64) -> bool {
        rises(self.s, self.p_value, self.slope, alpha)
    }
}

impl Lift {
    /// The same for the series plus `slope`·t.
    pub fn shifted(&self, slope: f64) -> Lift {
        Lift {
            slope: self.slope + slope,
            factors: self.factors.clone(),
        }
    }

    /// The trend test of `lifted` — the series [`Lift::new`] saw plus
    /// `slope`·t — equal to [`trend`]'s on it up to rounding.
    pub fn test(
        &self,
        t: &[f64],
        lifted: &[f64],
        segments: &[Range<usize>],
        slope: f64,
    ) -> LiftedTrend {
        let k = mann_kendall(t, lifted, segments, &self.factors);
        LiftedTrend {
            s: k.s,
            var_factor: k.var_factor,
            p_value: k.p_value,
            slope: self.slope + slope,
        }
    }
}

/// The Mann–Kendall score S = Σ sign(t_j − t_i)·sign(y_j − y_i) of one
/// segment in O(n log n), by Knight's (1966) method: after sorting by
/// (t, y), the discordant pairs are exactly the strict inversions of y, and
/// the concordant ones are what is left once the pairs tied in t or in y are
/// taken out. Finite values assumed, as everywhere here.
#[cfg(test)]
fn kendall_s(t: &[f64], y: &[f64]) -> f64 {
    kendall(t, y).0
}

/// [`kendall_s`] and [`tie_corrected_variance`] of one segment, sharing
/// the sort.
fn kendall(t: &[f64], y: &[f64]) -> (f64, f64) {
    let n = t.len() as u64;
    // Samples come in time order, mostly without repeated times: then the
    // order by (t, y) is the given one.
    let (tied_t, tied_both, mut ys) = if t.windows(2).all(|w| w[0] < w[1]) {
        (0, 0, y.to_vec())
    } else {
        let mut order: Vec<usize> = (0..t.len()).collect();
        order.sort_unstable_by(|&a, &b| cmp_f64(t[a], t[b]).then(cmp_f64(y[a], y[b])));
        let tied_t = tied_pairs(order.iter().map(|&i| t[i]));
        let tied_both = tied_pairs_by(&order, |a, b| t[a] == t[b] && y[a] == y[b]);
        (tied_t, tied_both, order.iter().map(|&i| y[i]).collect())
    };
    // The merge sort leaves `ys` sorted: the ties in y are read from it.
    let discordant = merge_count(&mut ys, &mut Vec::new(), |a, b| a < b);
    let tied_y = tied_pairs(ys.iter().copied());
    let untied = n * n.saturating_sub(1) / 2 + tied_both - tied_t - tied_y;
    let s = untied as f64 - 2.0 * discordant as f64;
    (s, variance_of_sorted(&ys))
}

/// Orders finite values; `-0.0 == 0.0`, as the sign of a difference sees it.
fn cmp_f64(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// Pairs of equal values in an already sorted sequence.
fn tied_pairs(sorted: impl Iterator<Item = f64>) -> u64 {
    let mut total = 0;
    let mut run = 0u64;
    let mut prev: Option<f64> = None;
    for x in sorted {
        if prev == Some(x) {
            run += 1;
        } else {
            total += run * (run.saturating_sub(1)) / 2;
            run = 1;
        }
        prev = Some(x);
    }
    total + run * run.saturating_sub(1) / 2
}

/// Pairs within runs of consecutive elements that `same` joins.
fn tied_pairs_by(v: &[usize], same: impl Fn(usize, usize) -> bool) -> u64 {
    let mut total = 0;
    let mut run = 1u64;
    for w in v.windows(2) {
        if same(w[0], w[1]) {
            run += 1;
        } else {
            total += run * (run - 1) / 2;
            run = 1;
        }
    }
    if v.is_empty() {
        0
    } else {
        total + run * (run - 1) / 2
    }
}

/// The inversions of `order`, a permutation of `base..base + order.len()`,
/// counted with a Fenwick tree (`tree` is scratch): no data moves, unlike a
/// merge sort, which makes it the cheaper count for a plain permutation.
fn inversions(order: &[u32], base: u32, tree: &mut Vec<u32>) -> u64 {
    let n = order.len();
    tree.clear();
    tree.resize(n + 1, 0);
    let mut count = 0u64;
    for (seen, &i) in order.iter().enumerate() {
        // Earlier entries no greater than this one...
        let mut at = (i - base) as usize + 1;
        let mut not_greater = 0u64;
        while at > 0 {
            not_greater += tree[at] as u64;
            at &= at - 1;
        }
        // ...and the rest of them are greater: inversions.
        count += seen as u64 - not_greater;
        let mut at = (i - base) as usize + 1;
        while at <= n {
            tree[at] += 1;
            at += at & at.wrapping_neg();
        }
    }
    count
}

/// Merge-sorts `v` by `less` (stably) and returns the number of inversions:
/// pairs p < q with `less(v[q], v[p])`.
fn merge_count<T: Copy>(
    v: &mut [T],
    buf: &mut Vec<T>,
    less: impl Fn(&T, &T) -> bool + Copy,
) -> u64 {
    merge_walk(v, buf, less, &mut |_, _| {}, false)
}

/// The merge sort behind [`merge_count`]; with `each` set, also calls
/// `on_pair(earlier, later)` for every inversion, which costs one call per
/// inverted pair on top of the O(n log n).
fn merge_walk<T: Copy>(
    v: &mut [T],
    buf: &mut Vec<T>,
    less: impl Fn(&T, &T) -> bool + Copy,
    on_pair: &mut impl FnMut(T, T),
    each: bool,
) -> u64 {
    let n = v.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let mut count = merge_walk(&mut v[..mid], buf, less, on_pair, each)
        + merge_walk(&mut v[mid..], buf, less, on_pair, each);
    buf.clear();
    let (mut i, mut j) = (0, mid);
    while i < mid && j < n {
        if less(&v[j], &v[i]) {
            count += (mid - i) as u64;
            if each {
                for &earlier in &v[i..mid] {
                    on_pair(earlier, v[j]);
                }
            }
            buf.push(v[j]);
            j += 1;
        } else {
            buf.push(v[i]);
            i += 1;
        }
    }
    buf.extend_from_slice(&v[i..mid]);
    buf.extend_from_slice(&v[j..n]);
    v.copy_from_slice(buf);
    count
}

/// The k-th smallest pairwise slopes of a set of segments, without forming
/// all pairs. The slopes are the ones the quadratic definition computes —
/// `(y_j − y_i) / (t_j − t_i)` in floating point for i < j in one segment,
/// t_j > t_i — and the order statistics are exact, not approximations.
///
/// How: for a threshold θ, the pairs whose *real* slope is below θ are the
/// inversions of the points ordered by y − θ·t, counted by merge sort in
/// O(n log n) and compared exactly (error-free transformations), so the
/// counts are exact. A random sample of pairs brackets the wanted rank,
/// bisection on θ narrows the bracket to O(n) pairs (Dillencourt, Mount &
/// Netanyahu 1992; Matoušek 1991), and those pairs are listed as the
/// inversions between the orders at the two ends. The computed slope of a
/// pair differs from its real slope by a few ulps, so the answer is only
/// accepted when it lies clear of both ends by more than that; otherwise
/// the ends move out and the band is listed again. Expected O(n log n); a
/// band of more than the budget of (nearly) equal slopes — exactly
/// collinear points — is tallied in constant memory but takes time
/// proportional to its size.
struct PairSlopes<'a> {
    t: &'a [f64],
    y: &'a [f64],
    segments: Vec<Range<usize>>,
    /// Pairs with t_j > t_i.
    pairs: u64,
    /// Pairs tied in t with y_j < y_i: they are inversions of every order
    /// by y − θ·t and must be taken out of the counts.
    tied_inverted: u64,
    /// The most pairs listed into memory at once.
    budget: u64,
    sample: Option<Vec<f64>>,
    /// Ranks already selected: the median and the interval of a single
    /// segment ask for the same ones twice.
    known: Vec<(u64, f64)>,
    /// The last band listed in memory: its ends, the pairs below its lower
    /// end, and its slopes. The two middle ranks of an even count fall in
    /// one band, listed once.
    band: Option<(f64, f64, u64, Vec<f64>)>,
}

/// The band budget per point: the memory of listing a band is about this
/// many slopes per point.
const BAND_PER_POINT: u64 = 8;

impl<'a> PairSlopes<'a> {
    fn new(t: &'a [f64], y: &'a [f64], segments: &[Range<usize>], budget: u64) -> Self {
        let segments: Vec<Range<usize>> =
            segments.iter().filter(|s| s.len() >= 2).cloned().collect();
        let mut pairs = 0;
        let mut tied_inverted = 0;
        let mut buf = Vec::new();
        for s in &segments {
            debug_assert!(
                t[s.clone()].windows(2).all(|w| w[0] <= w[1]),
                "times must not decrease within a segment"
            );
            let n = s.len() as u64;
            pairs += n * (n - 1) / 2 - tied_pairs(t[s.clone()].iter().copied());
            let mut g = s.start;
            while g < s.end {
                let mut h = g + 1;
                while h < s.end && t[h] == t[g] {
                    h += 1;
                }
                if h - g > 1 {
                    let mut ys = y[g..h].to_vec();
                    tied_inverted += merge_count(&mut ys, &mut buf, |a, b| a < b);
                }
                g = h;
            }
        }
        PairSlopes {
            t,
            y,
            segments,
            pairs,
            tied_inverted,
            budget,
            sample: None,
            known: Vec::new(),
            band: None,
        }
    }

    /// The median, averaging the two middle slopes of an even count.
    fn median(&mut self) -> Option<f64> {
        let n = self.pairs;
        if n == 0 {
            return None;
        }
        let upper = self.kth(n / 2);
        if n % 2 == 1 {
            return Some(upper);
        }
        Some((self.kth(n / 2 - 1) + upper) / 2.0)
    }

    /// The k-th smallest slope, 0-based; `k < self.pairs`.
    fn kth(&mut self, k: u64) -> f64 {
        if let Some(&(_, v)) = self.known.iter().find(|(r, _)| *r == k) {
            return v;
        }
        let v = self.select(k);
        self.known.push((k, v));
        v
    }

    fn select(&mut self, k: u64) -> f64 {
        assert!(k < self.pairs, "kth: rank out of range");
        if self.pairs <= self.budget {
            let mut all = Vec::with_capacity(self.pairs as usize);
            for s in &self.segments {
                for i in s.clone() {
                    for j in i + 1..s.end {
                        let dt = self.t[j] - self.t[i];
                        if dt > 0.0 {
                            all.push((self.y[j] - self.y[i]) / dt);
                        }
                    }
                }
            }
            return order_statistic(&mut all, k as usize);
        }
        if let Some((a, b, ca, band)) = &mut self.band {
            if let Some(rank) = k.checked_sub(*ca).filter(|&r| r < band.len() as u64) {
                let v = order_statistic(band, rank as usize);
                if v > above(*a) && v < below(*b) {
                    return v;
                }
            }
        }
        let (mut a, mut b) = self.bracket(k);
        let mut ca = self.count_below(a, false);
        let mut cb = self.count_below(b, true);
        if ca > k || cb <= k {
            // The sample missed: fall back to bounds that hold every slope.
            let (lo, hi) = self.extremes();
            if ca > k {
                a = below(lo);
                ca = self.count_below(a, false);
            }
            if cb <= k {
                b = above(hi);
                cb = self.count_below(b, true);
            }
        }
        // Narrow [a, b] (ca pairs below a, cb at or below b) until its band
        // fits the budget, or it is no wider than the rounding slack: then it
        // is a cluster of (nearly) equal slopes that narrowing cannot split.
        // Halving the bit patterns rather than the values needs at most 64
        // steps whatever the scale.
        while cb - ca > self.budget && below(b) > above(a) {
            let m = from_total_key(midpoint(total_key(a), total_key(b)));
            if m <= a || m >= b {
                break;
            }
            let (cm, cm_inclusive) = self.count_below_both(m);
            if k < cm {
                b = m;
                cb = cm_inclusive;
            } else {
                a = m;
                ca = cm;
            }
        }
        let mut widen = 4.0;
        loop {
            let v = self.band_kth(a, b, ca, k - ca, cb - ca);
            let low_ok = v > above(a);
            let high_ok = v < below(b);
            if low_ok && high_ok {
                return v;
            }
            if !low_ok {
                a -= widen * (above(a) - a);
                ca = self.count_below(a, false);
            }
            if !high_ok {
                b += widen * (b - below(b));
                cb = self.count_below(b, true);
            }
            widen *= 2.0;
        }
    }

    /// Bounds on every computed slope. The steepest and the flattest pair
    /// are always neighbours in time (a slope over two steps is a weighted
    /// mean of the two one-step slopes), so adjacent groups of equal t
    /// suffice; the rounding slack then covers real and computed slopes.
    fn extremes(&self) -> (f64, f64) {
        let (t, y) = (self.t, self.y);
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for s in &self.segments {
            let mut prev: Option<(f64, f64, f64)> = None;
            let mut g = s.start;
            while g < s.end {
                let (mut y_min, mut y_max) = (y[g], y[g]);
                let mut h = g + 1;
                while h < s.end && t[h] == t[g] {
                    y_min = y_min.min(y[h]);
                    y_max = y_max.max(y[h]);
                    h += 1;
                }
                if let Some((tp, p_min, p_max)) = prev {
                    let dt = t[g] - tp;
                    lo = lo.min((y_min - p_max) / dt);
                    hi = hi.max((y_max - p_min) / dt);
                }
                prev = Some((t[g], y_min, y_max));
                g = h;
            }
        }
        (below(lo), above(hi))
    }

    /// Brackets rank k by the quantiles of a random sample of pairs: about
    /// three standard deviations of the sample rank on each side.
    fn bracket(&mut self, k: u64) -> (f64, f64) {
        let sample = self.sample.get_or_insert_with(|| {
            sample_slopes(self.t, self.y, &self.segments, (self.budget / 2).max(1024))
        });
        if sample.is_empty() {
            return (0.0, 0.0);
        }
        let m = sample.len() as f64;
        let q = k as f64 / self.pairs as f64 * m;
        let d = 3.0 * m.sqrt() + 2.0;
        let lo = (q - d).max(0.0) as usize;
        let hi = ((q + d) as usize).min(sample.len() - 1);
        (sample[lo.min(hi)], sample[hi])
    }

    /// Pairs whose real slope is below θ, or at most θ with `inclusive`.
    fn count_below(&self, theta: f64, inclusive: bool) -> u64 {
        self.count_at(theta, inclusive).0
    }

    /// The pairs below θ and those at most θ: one count when no two points
    /// tie exactly at θ, which is the rule for a θ between the slopes.
    fn count_below_both(&self, theta: f64) -> (u64, u64) {
        let (below, ties) = self.count_at(theta, false);
        if ties {
            (below, self.count_below(theta, true))
        } else {
            (below, below)
        }
    }

    /// [`PairSlopes::count_below`], and whether any two points lie exactly
    /// on a line of slope θ (else the count is the same either way).
    fn count_at(&self, theta: f64, inclusive: bool) -> (u64, bool) {
        let mut order = Vec::new();
        let mut keyed = Vec::new();
        let mut tree = Vec::new();
        let mut count = 0;
        let mut ties = false;
        for s in &self.segments {
            ties |= self.order_at(s.clone(), theta, inclusive, &mut order, &mut keyed);
            count += inversions(&order, s.start as u32, &mut tree);
        }
        (count - self.tied_inverted, ties)
    }

    /// The points of segment `s` ordered by y − θ·t, exactly; ties by t
    /// ascending (a pair of slope exactly θ stays in time order, not below)
    /// or with `inclusive` by t descending (it counts as below), then by
    /// index. Returns whether two points of different times tie exactly.
    /// `keyed` is scratch space.
    fn order_at(
        &self,
        s: Range<usize>,
        theta: f64,
        inclusive: bool,
        order: &mut Vec<u32>,
        keyed: &mut Vec<(i64, u32)>,
    ) -> bool {
        let (t, y) = (self.t, self.y);
        // A single rounding is monotone, so the rounded keys order the points
        // correctly except within runs of equal keys, which the exact
        // comparison settles. Sorting plain integers first keeps the exact
        // arithmetic to those runs. Adding 0.0 makes −0 and +0 one key.
        keyed.clear();
        keyed.extend(s.map(|i| (total_key((-theta).mul_add(t[i], y[i]) + 0.0), i as u32)));
        keyed.sort_unstable();
        let mut ties = false;
        let mut g = 0;
        while g < keyed.len() {
            let mut h = g + 1;
            while h < keyed.len() && keyed[h].0 == keyed[g].0 {
                h += 1;
            }
            if h - g > 1 {
                keyed[g..h].sort_unstable_by(|&(_, a), &(_, b)| {
                    let (a, b) = (a as usize, b as usize);
                    let exact = exact_key_cmp(theta, (t[a], y[a]), (t[b], y[b]));
                    ties |= exact == Ordering::Equal && t[a] != t[b];
                    exact
                        .then_with(|| {
                            if inclusive {
                                cmp_f64(t[b], t[a])
                            } else {
                                cmp_f64(t[a], t[b])
                            }
                        })
                        .then(a.cmp(&b))
                });
            }
            g = h;
        }
        order.clear();
        order.extend(keyed.iter().map(|&(_, i)| i));
        ties
    }

    /// The `rank`-th smallest computed slope among the pairs whose real
    /// slope lies in [a, b], of which there are `size`.
    fn band_kth(&mut self, a: f64, b: f64, ca: u64, rank: u64, size: u64) -> f64 {
        let mut in_memory = Vec::new();
        let mut keyed = Vec::new();
        let mut tally: std::collections::BTreeMap<i64, u64> = Default::default();
        let keep = size <= self.budget;
        let (t, y) = (self.t, self.y);
        let mut order_a = Vec::new();
        let mut order_b = Vec::new();
        let mut pos_b = Vec::new();
        let mut buf = Vec::new();
        for s in &self.segments {
            self.order_at(s.clone(), a, false, &mut order_a, &mut keyed);
            self.order_at(s.clone(), b, true, &mut order_b, &mut keyed);
            pos_b.clear();
            pos_b.resize(s.len(), 0u32);
            for (p, &i) in order_b.iter().enumerate() {
                pos_b[i as usize - s.start] = p as u32;
            }
            let base = s.start;
            let mut on_pair = |p: u32, q: u32| {
                let (i, j) = if p < q {
                    (p as usize, q as usize)
                } else {
                    (q as usize, p as usize)
                };
                let slope = (y[j] - y[i]) / (t[j] - t[i]);
                if keep {
                    in_memory.push(slope);
                } else {
                    *tally.entry(total_key(slope)).or_insert(0) += 1;
                }
            };
            let pb = &pos_b;
            merge_walk(
                &mut order_a,
                &mut buf,
                |&p, &q| pb[p as usize - base] < pb[q as usize - base],
                &mut on_pair,
                true,
            );
        }
        if keep {
            debug_assert_eq!(in_memory.len() as u64, size);
            let v = order_statistic(&mut in_memory, rank as usize);
            self.band = Some((a, b, ca, in_memory));
            return v;
        }
        let mut seen = 0;
        for (&key, &c) in &tally {
            seen += c;
            if seen > rank {
                return from_total_key(key);
            }
        }
        unreachable!("band_kth: rank beyond the band")
    }
}

/// Below this, slopes are treated as zero-sized: an absolute slack for
/// underflow next to the relative one.
const TINY: f64 = 1e-290;

/// An upper bound on the computed slope of any pair whose real slope is at
/// most `x`: the division and the two subtractions each round once, so the
/// computed slope is within 3 ulps of the real one; 16ε leaves room.
fn above(x: f64) -> f64 {
    x + 16.0 * f64::EPSILON * x.abs() + TINY
}

/// The lower bound mirroring [`above`].
fn below(x: f64) -> f64 {
    x - 16.0 * f64::EPSILON * x.abs() - TINY
}

/// The midpoint of two integers without overflow, rounded down.
fn midpoint(a: i64, b: i64) -> i64 {
    (a >> 1) + (b >> 1) + (a & b & 1)
}

/// f64 → i64 preserving `f64::total_cmp`'s order.
fn total_key(x: f64) -> i64 {
    let bits = x.to_bits() as i64;
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

fn from_total_key(k: i64) -> f64 {
    f64::from_bits((k ^ ((((k >> 63) as u64) >> 1) as i64)) as u64)
}

/// Exact comparison of y_a − θ·t_a with y_b − θ·t_b: each product is split
/// into its rounded value and its exact error by a fused multiply-add, and
/// the sign of the six-term sum is taken from an exact expansion.
fn exact_key_cmp(theta: f64, (ta, ya): (f64, f64), (tb, yb): (f64, f64)) -> Ordering {
    let pa = theta * ta;
    let ea = theta.mul_add(ta, -pa);
    let pb = theta * tb;
    let eb = theta.mul_add(tb, -pb);
    let terms = [ya, -pa, -ea, -yb, pb, eb];
    let mut h = [0.0f64; 6];
    for (len, &term) in terms.iter().enumerate() {
        let mut q = term;
        for c in h.iter_mut().take(len) {
            let (sum, err) = two_sum(q, *c);
            *c = err;
            q = sum;
        }
        h[len] = q;
    }
    // The components do not overlap and grow in magnitude: the last nonzero
    // one carries the sign.
    h.iter()
        .rev()
        .find(|c| **c != 0.0)
        .map_or(Ordering::Equal, |c| cmp_f64(*c, 0.0))
}

/// Knuth's two-sum: `a + b == sum + err` exactly.
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let sum = a + b;
    let bv = sum - a;
    let av = sum - bv;
    (sum, (a - av) + (b - bv))
}

/// The computed slopes of about `count` pairs drawn uniformly (with
/// replacement) from the pairs with t_j > t_i, sorted. Deterministic: the
/// generator is seeded from the data's size, so a verdict never depends on
/// chance — and the result of [`PairSlopes::kth`] does not depend on the
/// sample at all, only its speed does.
fn sample_slopes(t: &[f64], y: &[f64], segments: &[Range<usize>], count: u64) -> Vec<f64> {
    let weights: Vec<u64> = segments
        .iter()
        .scan(0u64, |acc, s| {
            let n = s.len() as u64;
            *acc += n * (n - 1) / 2;
            Some(*acc)
        })
        .collect();
    let total = *weights.last().unwrap_or(&0);
    let mut rng = SplitMix(0x5EED ^ t.len() as u64);
    let mut out = Vec::with_capacity(count as usize);
    let mut tries = 0;
    while (out.len() as u64) < count && tries < 64 * count && total > 0 {
        tries += 1;
        let w = rng.next() % total;
        let s = &segments[weights.partition_point(|&c| c <= w)];
        let n = s.len() as u64;
        let i = (rng.next() % n) as usize;
        let mut j = (rng.next() % (n - 1)) as usize;
        if j >= i {
            j += 1;
        }
        let (i, j) = (s.start + i.min(j), s.start + i.max(j));
        let dt = t[j] - t[i];
        if dt > 0.0 {
            out.push((y[j] - y[i]) / dt);
        }
    }
    out.sort_unstable_by(f64::total_cmp);
    out
}

/// Steele, Lea & Flood's SplitMix64: small, fast, and good enough to
/// spread a sample.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Var(S) under the null with the usual correction for tied values.
#[cfg(test)]
fn tie_corrected_variance(y: &[f64]) -> f64 {
    let mut sorted = y.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    variance_of_sorted(&sorted)
}

/// [`tie_corrected_variance`] of values already in ascending order.
fn variance_of_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len() as f64;
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
    let acf = autocorrelation(&r, MAX_LAG);
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

/// Sample autocorrelation at lags 0..=min(n−1, `max_lag`) (biased
/// estimator, divided by n). Long series go through an FFT: every lag of
/// a week of minutes summed directly is O(n·MAX_LAG), most of a trend's
/// cost.
fn autocorrelation(x: &[f64], max_lag: usize) -> Vec<f64> {
    let n = x.len();
    let mean = x.iter().sum::<f64>() / n as f64;
    let d: Vec<f64> = x.iter().map(|v| v - mean).collect();
    let c0: f64 = d.iter().map(|v| v * v).sum();
    if c0 == 0.0 {
        return vec![1.0];
    }
    let lags = n.min(max_lag + 1);
    if n * lags <= 1 << 16 {
        return (0..lags)
            .map(|lag| {
                d[..n - lag]
                    .iter()
                    .zip(&d[lag..])
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
                    / c0
            })
            .collect();
    }
    // Wiener–Khinchin: the autocovariance is the inverse transform of the
    // power spectrum; padding to n + lags keeps the wanted lags free of the
    // circular wrap-around.
    let size = (n + lags).next_power_of_two();
    let mut re = vec![0.0; size];
    let mut im = vec![0.0; size];
    re[..n].copy_from_slice(&d);
    fft(&mut re, &mut im, false);
    for (r, i) in re.iter_mut().zip(im.iter_mut()) {
        *r = *r * *r + *i * *i;
        *i = 0.0;
    }
    fft(&mut re, &mut im, true);
    let c0_fft = re[0];
    re[..lags].iter().map(|c| c / c0_fft).collect()
}

/// In-place radix-2 FFT of `re + i·im` (length a power of two); `inverse`
/// without the 1/n scaling, which the autocorrelation's ratio cancels.
fn fft(re: &mut [f64], im: &mut [f64], inverse: bool) {
    let n = re.len();
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    let mut len = 2;
    while len <= n {
        let angle = sign * 2.0 * std::f64::consts::PI / len as f64;
        let half = len / 2;
        // Twiddles computed per stage rather than by repeated
        // multiplication, which would let rounding errors grow.
        let twiddles: Vec<(f64, f64)> = (0..half)
            .map(|k| {
                let a = angle * k as f64;
                (a.cos(), a.sin())
            })
            .collect();
        for start in (0..n).step_by(len) {
            for (k, &(wr, wi)) in twiddles.iter().enumerate() {
                let (a, b) = (start + k, start + k + half);
                let tr = re[b] * wr - im[b] * wi;
                let ti = re[b] * wi + im[b] * wr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
        len <<= 1;
    }
}

/// The smallest two-sided p-value the Mann–Kendall test can give on
/// series of these segments' lengths, with its variance inflated by
/// `var_factor` (the Hamed–Rao factor the test applied): every pair in
/// order, no ties. Pairs are formed within segments only, as in [`trend`].
pub fn smallest_p_value(segments: &[Range<usize>], var_factor: f64) -> f64 {
    let (mut s_max, mut var) = (0.0, 0.0);
    for seg in segments {
        let n = seg.len() as f64;
        s_max += n * (n - 1.0) / 2.0;
        var += n * (n - 1.0) * (2.0 * n + 5.0) / 18.0;
    }
    if s_max < 1.0 || var <= 0.0 {
        return 1.0;
    }
    let z = (s_max - 1.0) / (var * var_factor.max(1.0)).sqrt();
    (2.0 * normal_sf(z)).min(1.0)
}

/// The fewest points with which [`smallest_p_value`] is below `alpha`, for
/// a variance inflated by `var_factor`, when the `earlier` segments (past
/// lifetimes) are as they are and only a last one grows: 6 points at 1%
/// and 5 at 5% for one segment without autocorrelation. The count grows
/// about linearly with the factor (z ≈ 1.5·√(n/factor) for large n);
/// `usize::MAX` when no count reaches `alpha`.
pub fn points_to_reach(alpha: f64, var_factor: f64, earlier: &[Range<usize>]) -> usize {
    let before: usize = earlier.iter().map(|s| s.len()).sum();
    let reaches = |m: usize| {
        let mut segs = earlier.to_vec();
        segs.push(before..before + m);
        smallest_p_value(&segs, var_factor) < alpha
    };
    // Doubling, then bisection: the p-value falls as the last segment grows.
    let mut high = 2;
    while !reaches(high) {
        if high > usize::MAX / 4 - before {
            return usize::MAX;
        }
        high *= 2;
    }
    let mut low = high / 2;
    while high - low > 1 {
        let mid = (low + high) / 2;
        if reaches(mid) {
            high = mid;
        } else {
            low = mid;
        }
    }
    before + high
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
#[cfg(test)]
fn rank_sum_greater(earlier: &[f64], later: &[f64]) -> f64 {
    rank_sum_greater_pooled(&[(earlier, later)])
}

/// [`rank_sum_greater`] pooled over strata (one pair of samples per
/// process lifetime): each stratum is ranked on its own, and the strata's
/// U − E[U] and variances add up, as the stratified Kendall test adds its
/// scores — so lifetimes that start from different levels are never
/// compared with each other. 1 when no stratum has both samples.
pub fn rank_sum_greater_pooled(strata: &[(&[f64], &[f64])]) -> f64 {
    let mut excess = 0.0;
    let mut var = 0.0;
    for (earlier, later) in strata {
        if earlier.is_empty() || later.is_empty() {
            continue;
        }
        let (n1, n2) = (earlier.len() as f64, later.len() as f64);
        let all: Vec<f64> = earlier.iter().chain(*later).copied().collect();
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
        excess += u - n1 * n2 / 2.0;
        var += n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    }
    if var <= 0.0 {
        return 1.0;
    }
    let z = (excess - 0.5) / var.sqrt();
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

    #[test]
    fn pooled_rank_sum_adds_the_strata() {
        // Two fully separated strata of 3 + 3: U − E[U] = 9 − 4.5 each,
        // Var(U) = 3·3/12·7 = 5.25 each, so z = (9 − 0.5)/√10.5.
        let low: (&[f64], &[f64]) = (&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]);
        let high: (&[f64], &[f64]) = (&[101.0, 102.0, 103.0], &[104.0, 105.0, 106.0]);
        let want = normal_sf(8.5 / 10.5f64.sqrt());
        assert!(close(rank_sum_greater_pooled(&[low, high]), want, 1e-12));
        // One stratum is the plain test.
        assert_eq!(
            rank_sum_greater_pooled(&[low]),
            rank_sum_greater(low.0, low.1)
        );
        // Strata are ranked apart: a rise in one lifetime and a fall in
        // another, at a higher level, cancel out (pooled into one sample,
        // the fall's high earlier half would decide).
        let shifted: (&[f64], &[f64]) = (&[50.0, 51.0, 52.0], &[1.0, 2.0, 3.0]);
        let apart = rank_sum_greater_pooled(&[low, shifted]);
        assert!(close(apart, 0.5, 0.2), "{apart}");
        assert_eq!(rank_sum_greater_pooled(&[(&[], &[1.0])]), 1.0);
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

    /// The quadratic definition the fast code must reproduce: S over all
    /// pairs by the sign convention, and every pairwise slope with t_j > t_i.
    fn score_and_slopes_quadratic(t: &[f64], y: &[f64], slopes: &mut Vec<f64>) -> f64 {
        fn sign(v: f64) -> i64 {
            if v > 0.0 {
                1
            } else if v < 0.0 {
                -1
            } else {
                0
            }
        }
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

    /// The trend as computed before the fast path: every pair formed.
    fn trend_quadratic(t: &[f64], y: &[f64], segments: &[Range<usize>]) -> Option<Trend> {
        let mut s_total = 0.0;
        let mut var_total = 0.0;
        let mut var_raw_total = 0.0;
        let mut slopes = Vec::new();
        let mut n_total = 0;
        for seg in segments {
            let (ts, ys) = (&t[seg.clone()], &y[seg.clone()]);
            n_total += ts.len();
            if ts.len() < 2 {
                continue;
            }
            let first_slope = slopes.len();
            s_total += score_and_slopes_quadratic(ts, ys, &mut slopes);
            let var = tie_corrected_variance(ys);
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
        let (low_idx, high_idx) = sen_interval_indices(slopes.len(), var_total);
        let slope = median(&mut slopes).unwrap_or(0.0);
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
            slope_low: order_statistic(&mut slopes, low_idx),
            slope_high: order_statistic(&mut slopes, high_idx),
        })
    }

    /// A random series of `n` points: times non-decreasing (with repeats
    /// when `tied_t`), values from one of several shapes, some with many
    /// ties, and a random split into segments.
    fn random_series(rng: &mut SplitMix, n: usize) -> (Vec<f64>, Vec<f64>, Vec<Range<usize>>) {
        let shape = rng.next() % 6;
        let tied_t = rng.next() % 3 == 0;
        let mut t = Vec::with_capacity(n);
        let mut now = (rng.next() % 1000) as f64 * 0.37;
        for _ in 0..n {
            if !(tied_t && rng.next() % 4 == 0) {
                now += match rng.next() % 3 {
                    0 => 1.0,
                    1 => 0.1 * (1 + rng.next() % 50) as f64,
                    _ => 15.0,
                };
            }
            t.push(now);
        }
        let y: Vec<f64> = t
            .iter()
            .enumerate()
            .map(|(i, &ti)| {
                let noise = (rng.next() % 1_000_000) as f64 / 1000.0;
                match shape {
                    0 => 5.0,
                    1 => (rng.next() % 4) as f64,
                    2 => 3.0 * i as f64,
                    3 => 1e9 + 2.5 * ti + noise,
                    4 => (ti / 7.0).sin() * 100.0 + noise,
                    _ => (i % 17) as f64 * 0.1 + ((rng.next() % 3) as f64),
                }
            })
            .collect();
        let mut segments = Vec::new();
        let mut start = 0;
        while start < n {
            let len = if rng.next() % 3 == 0 {
                n - start
            } else {
                1 + (rng.next() % (n as u64 - start as u64)) as usize
            };
            segments.push(start..start + len);
            start += len;
        }
        if n == 0 || rng.next() % 4 == 0 {
            segments = std::iter::once(0..n).collect();
        }
        (t, y, segments)
    }

    #[test]
    fn fast_score_and_slopes_equal_the_quadratic_definition() {
        let mut rng = SplitMix(7);
        for round in 0..250 {
            let n = match round % 4 {
                0 => (rng.next() % 12) as usize,
                1 => (rng.next() % 60) as usize,
                _ => (rng.next() % 301) as usize,
            };
            let (t, y, segments) = random_series(&mut rng, n);
            let mut all = Vec::new();
            for seg in &segments {
                let (ts, ys) = (&t[seg.clone()], &y[seg.clone()]);
                let s = score_and_slopes_quadratic(ts, ys, &mut all);
                assert_eq!(kendall_s(ts, ys), s, "S, n={n}, round {round}");
            }
            // A tiny budget forces the sampled bracket and the band listing.
            let budget = 1 + rng.next() % 64;
            let mut fast = PairSlopes::new(&t, &y, &segments, budget);
            assert_eq!(fast.pairs, all.len() as u64, "round {round}");
            if all.is_empty() {
                continue;
            }
            let ks = [
                0,
                all.len() as u64 - 1,
                all.len() as u64 / 2,
                rng.next() % all.len() as u64,
                rng.next() % all.len() as u64,
            ];
            for k in ks {
                let want = order_statistic(&mut all.clone(), k as usize);
                let got = fast.kth(k);
                assert_eq!(got.to_bits(), want.to_bits(), "k={k} n={n} round {round}");
            }
            assert_eq!(
                trend_with_budget(&t, &y, &segments, budget).map(|x| x.0),
                trend_quadratic(&t, &y, &segments),
                "round {round}"
            );
        }
    }

    #[test]
    fn collinear_points_beyond_the_budget_still_give_exact_slopes() {
        let t = idx(400);
        let y: Vec<f64> = t.iter().map(|v| 0.1 * v).collect();
        let segs: Vec<Range<usize>> = std::iter::once(0..400).collect();
        assert_eq!(
            trend_with_budget(&t, &y, &segs, 100).map(|x| x.0),
            trend_quadratic(&t, &y, &segs)
        );
    }

    /// Prints the time of [`trend`] against the quadratic definition; run
    /// by `bench/stats` in a release build. Not a pass/fail test.
    #[test]
    #[ignore]
    fn timing_fast_vs_quadratic() {
        let mut rng = SplitMix(42);
        println!("| n | fast | quadratic |\n|---:|---:|---:|");
        for n in [1_000usize, 2_000, 10_000, 100_000] {
            let t = idx(n);
            let y: Vec<f64> = t
                .iter()
                .map(|&i| 5e8 + 40.0 * i + (rng.next() % 200_000) as f64)
                .collect();
            let segs: Vec<Range<usize>> = std::iter::once(0..n).collect();
            // Short series repeat, so the time is more than the clock's grain.
            let reps = (20_000 / n).max(1);
            let start = std::time::Instant::now();
            let mut fast = None;
            for _ in 0..reps {
                fast = trend(&t, &y, &segs);
            }
            let fast_s = start.elapsed().as_secs_f64() / reps as f64;
            // The quadratic definition keeps all n²/2 slopes: 40 GB at 100k.
            let slow = (n <= 10_000).then(|| {
                let start = std::time::Instant::now();
                let slow = trend_quadratic(&t, &y, &segs);
                assert_eq!(fast, slow);
                start.elapsed().as_secs_f64()
            });
            let slow = slow.map_or("not run (n²/2 slopes in memory)".to_string(), |s| {
                format!("{s:.3} s")
            });
            println!("| {n} | {:.2} ms | {slow} |", fast_s * 1e3);
        }
    }

    #[test]
    fn the_transform_gives_the_directly_summed_autocorrelation() {
        let mut rng = SplitMix(9);
        let mut walk = 0.0;
        let x: Vec<f64> = (0..3000)
            .map(|_| {
                walk += (rng.next() % 1000) as f64 - 499.5;
                walk
            })
            .collect();
        let fast = autocorrelation(&x, MAX_LAG);
        assert_eq!(fast.len(), MAX_LAG + 1);
        let mean = x.iter().sum::<f64>() / x.len() as f64;
        let d: Vec<f64> = x.iter().map(|v| v - mean).collect();
        let c0: f64 = d.iter().map(|v| v * v).sum();
        for (lag, rho) in fast.iter().enumerate() {
            let direct: f64 = d[..x.len() - lag]
                .iter()
                .zip(&d[lag..])
                .map(|(a, b)| a * b)
                .sum::<f64>()
                / c0;
            assert!((rho - direct).abs() < 1e-12, "lag {lag}: {rho} vs {direct}");
        }
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
