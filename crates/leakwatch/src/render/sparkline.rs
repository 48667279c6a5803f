//! A one-line picture of a series for the terminal: `▁▂▃▅▆█`.

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Draws `values` in at most `width` characters. Longer series are split
/// into `width` consecutive buckets, each drawn at its mean, so a spike
/// shows as a taller bar without one sample deciding the whole line. The
/// lowest bar is the series' minimum, the highest its maximum; a flat
/// series is a flat line. Non-finite values are skipped.
pub fn sparkline(values: &[f64], width: usize) -> String {
    let values: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let buckets = values.len().min(width);
    let means: Vec<f64> = (0..buckets)
        .map(|i| {
            let lo = i * values.len() / buckets;
            let hi = ((i + 1) * values.len() / buckets).max(lo + 1);
            let part = &values[lo..hi];
            part.iter().sum::<f64>() / part.len() as f64
        })
        .collect();
    let min = means.iter().copied().fold(f64::INFINITY, f64::min);
    let max = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let range = max - min;
    means
        .iter()
        .map(|&v| {
            if range <= 0.0 {
                return BARS[0];
            }
            let level = ((v - min) / range * (BARS.len() - 1) as f64).round() as usize;
            BARS[level.min(BARS.len() - 1)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ramp_uses_every_bar() {
        let ramp: Vec<f64> = (0..8).map(f64::from).collect();
        assert_eq!(sparkline(&ramp, 40), "▁▂▃▄▅▆▇█");
    }

    #[test]
    fn long_series_are_bucketed_to_the_width() {
        let ramp: Vec<f64> = (0..1000).map(f64::from).collect();
        let line = sparkline(&ramp, 20);
        assert_eq!(line.chars().count(), 20);
        assert!(line.starts_with('▁') && line.ends_with('█'), "{line}");
    }

    #[test]
    fn flat_empty_and_nan() {
        assert_eq!(sparkline(&[5.0, 5.0, 5.0], 10), "▁▁▁");
        assert_eq!(sparkline(&[], 10), "");
        assert_eq!(sparkline(&[1.0, f64::NAN, 3.0], 10), "▁█");
    }

    #[test]
    fn a_spike_in_the_middle_stays_in_the_middle() {
        let mut v = vec![1.0; 9];
        v[4] = 100.0;
        assert_eq!(sparkline(&v, 9), "▁▁▁▁█▁▁▁▁");
    }
}
