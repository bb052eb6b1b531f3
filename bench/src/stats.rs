//! Latency samples, percentiles and medians over runs: shared by every scenario.

use std::time::Duration;

/// Every successful request's latency in one measurement window, in nanoseconds (exact
/// percentiles: a sorted Vec, no bucketing). 1 M samples cost 8 MB, fine for 10 s windows.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    nanos: Vec<u64>,
    sorted: bool,
}

impl Latencies {
    pub fn with_capacity(n: usize) -> Self {
        Latencies {
            nanos: Vec::with_capacity(n),
            sorted: true,
        }
    }

    pub fn record(&mut self, d: Duration) {
        self.nanos
            .push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.sorted = false;
    }

    pub fn merge(&mut self, other: Latencies) {
        if self.nanos.is_empty() {
            *self = other;
        } else {
            self.nanos.extend(other.nanos);
            self.sorted = false;
        }
    }

    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    fn sort(&mut self) {
        if !self.sorted {
            self.nanos.sort_unstable();
            self.sorted = true;
        }
    }

    /// Nearest-rank percentile (`q` in 0..=1) in milliseconds; `None` without samples.
    pub fn percentile_ms(&mut self, q: f64) -> Option<f64> {
        self.sort();
        let n = self.nanos.len();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.nanos.get(rank - 1).map(|ns| *ns as f64 / 1e6)
    }

    pub fn max_ms(&mut self) -> Option<f64> {
        self.percentile_ms(1.0)
    }
}

/// The usual latency summary of one window.
#[derive(Debug, Clone, Copy, Default)]
pub struct LatencySummary {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    pub fn of(lat: &mut Latencies) -> LatencySummary {
        LatencySummary {
            p50_ms: lat.percentile_ms(0.50).unwrap_or(f64::NAN),
            p99_ms: lat.percentile_ms(0.99).unwrap_or(f64::NAN),
            p999_ms: lat.percentile_ms(0.999).unwrap_or(f64::NAN),
            max_ms: lat.max_ms().unwrap_or(f64::NAN),
        }
    }
}

/// The median of `values` (mean of the middle two for an even count); NaN when empty.
/// NaNs sort last, so a run that measured nothing does not become the median of three.
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v.get(n / 2).copied().unwrap_or(f64::NAN),
        _ => match (v.get(n / 2 - 1), v.get(n / 2)) {
            (Some(a), Some(b)) => (a + b) / 2.0,
            _ => f64::NAN,
        },
    }
}

/// `num / den`, NaN when the denominator is zero (shown as "n/a" in reports).
pub fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 { f64::NAN } else { num / den }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut l = Latencies::default();
        for ms in 1..=1000u64 {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.percentile_ms(0.5), Some(500.0));
        assert_eq!(l.percentile_ms(0.99), Some(990.0));
        assert_eq!(l.percentile_ms(0.999), Some(999.0));
        assert_eq!(l.max_ms(), Some(1000.0));
        assert_eq!(Latencies::default().percentile_ms(0.5), None);
    }

    #[test]
    fn median_of_odd_even_and_nan() {
        assert_eq!(median([3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median([f64::NAN, 5.0, 1.0]), 5.0);
        assert!(median([]).is_nan());
    }
}
