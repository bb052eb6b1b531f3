//! Reading a node's `/metrics` (Prometheus text): counters, gauges and the `_sum`/`_count`
//! of summaries and histograms, summed over label sets. Quantile and bucket lines are
//! skipped: a benchmark wants the delta of sums and counts over its window.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use authd_tests::NodeApi;

/// Metric name (labels dropped) → value, summed over label sets.
#[derive(Debug, Clone, Default)]
pub struct Metrics(pub BTreeMap<String, f64>);

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut out = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty()
                || line.starts_with('#')
                || line.contains("quantile=")
                || line.contains("le=")
            {
                continue;
            }
            let (name, rest) = match line.find(['{', ' ']) {
                Some(i) => (
                    line.get(..i).unwrap_or_default(),
                    line.get(i..).unwrap_or_default(),
                ),
                None => continue,
            };
            // The value follows the labels (if any); an optional timestamp may follow it.
            let after_labels = match rest.rfind('}') {
                Some(i) => rest.get(i + 1..).unwrap_or_default(),
                None => rest,
            };
            if let Some(v) = after_labels
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
            {
                *out.entry(name.to_owned()).or_insert(0.0) += v;
            }
        }
        Metrics(out)
    }

    pub async fn fetch(api: &NodeApi) -> Result<Metrics> {
        let resp = api.metrics().await?;
        if resp.status != 200 {
            bail!("node {}: /metrics answered {}", api.node_id, resp.status);
        }
        Ok(Metrics::parse(&resp.body))
    }

    pub fn get(&self, name: &str) -> f64 {
        self.0.get(name).copied().unwrap_or(0.0)
    }

    /// `self - earlier` for every metric (gauges become meaningless; use counters/sums).
    pub fn since(&self, earlier: &Metrics) -> Metrics {
        Metrics(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v - earlier.get(k)))
                .collect(),
        )
    }

    /// `sum / count` of a summary or histogram (NaN without observations).
    pub fn mean(&self, base: &str) -> f64 {
        crate::stats::ratio(
            self.get(&format!("{base}_sum")),
            self.get(&format!("{base}_count")),
        )
    }

    pub fn count(&self, base: &str) -> f64 {
        self.get(&format!("{base}_count"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_counts_and_labels() {
        let text = "# TYPE x summary\nx{quantile=\"0.5\"} 3\nx_sum 30\nx_count 10\n\
                    c{kind=\"a\"} 2\nc{kind=\"b\"} 5 1700000000\ng 1.5\n";
        let m = Metrics::parse(text);
        assert_eq!(m.mean("x"), 3.0);
        assert_eq!(m.get("c"), 7.0);
        assert_eq!(m.get("g"), 1.5);
        assert_eq!(m.get("x"), 0.0);
    }
}
