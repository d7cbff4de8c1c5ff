//! Latency histograms with fixed, roughly logarithmic buckets (each at most a third of its bound wide), so per-minute
//! rollups can be summed over any window and still give p50/p95/p99 without keeping samples.

/// Upper bounds (inclusive, milliseconds) of each bucket; the last bucket is everything above.
pub const BOUNDS_MS: &[i64] = &[
    0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 125, 150, 200, 250, 300,
    400, 500, 600, 800, 1000, 1250, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000, 10_000, 12_500,
    15_000, 20_000, 25_000, 30_000, 40_000, 50_000, 60_000,
];

/// The bucket a latency falls in: the index of the first bound at or above it.
pub fn bucket_of(ms: i64) -> usize {
    BOUNDS_MS.partition_point(|b| *b < ms)
}

/// A bucket's upper bound as reported for a percentile (the overflow bucket reports its lower
/// bound: "over a minute").
pub fn bucket_value(bucket: usize) -> i64 {
    BOUNDS_MS
        .get(bucket)
        .copied()
        .unwrap_or(BOUNDS_MS[BOUNDS_MS.len() - 1])
}

/// The `q` quantile (0 < q ≤ 1) of a histogram given as (bucket, count) pairs in any order:
/// the upper bound of the bucket holding the rank-⌈q·n⌉ sample. `None` when it is empty.
pub fn percentile(counts: &[(usize, i64)], q: f64) -> Option<i64> {
    let total: i64 = counts.iter().map(|c| c.1).sum();
    if total <= 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as i64;
    let mut sorted = counts.to_vec();
    sorted.sort_unstable();
    let mut seen = 0;
    for (bucket, n) in sorted {
        seen += n;
        if seen >= rank {
            return Some(bucket_value(bucket));
        }
    }
    sorted_last(counts)
}

fn sorted_last(counts: &[(usize, i64)]) -> Option<i64> {
    counts.iter().map(|c| c.0).max().map(bucket_value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_latencies_from_above() {
        assert_eq!(bucket_value(bucket_of(0)), 0);
        assert_eq!(bucket_value(bucket_of(7)), 8);
        assert_eq!(bucket_value(bucket_of(100)), 100);
        assert_eq!(bucket_value(bucket_of(101)), 125);
        assert_eq!(bucket_of(120_000), BOUNDS_MS.len());
        for w in BOUNDS_MS.windows(2).filter(|w| w[0] >= 4) {
            assert!((w[1] - w[0]) as f64 / w[1] as f64 <= 0.34, "{w:?} too wide");
        }
    }

    #[test]
    fn percentiles_follow_the_ranks() {
        // 90 fast, 9 at ~100 ms, 1 at ~300 ms.
        let h = [(bucket_of(1), 90), (bucket_of(100), 9), (bucket_of(300), 1)];
        assert_eq!(percentile(&h, 0.5), Some(1));
        assert_eq!(percentile(&h, 0.9), Some(1));
        assert_eq!(percentile(&h, 0.95), Some(100));
        assert_eq!(percentile(&h, 0.99), Some(100));
        assert_eq!(percentile(&h, 1.0), Some(300));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
