//! Compares two files of encodings (one hex Bloom filter per line) by Dice
//! similarity on every core, as `bench/linkage/pprl.py` asks.
//!
//! ```text
//! pprl_link LEFT.hex RIGHT.hex THRESHOLD
//! ```
//! Prints the pairs found, then `seconds=… comparisons=… threads=…` (the
//! median of five runs).

use hdh_linkage::pprl::{Filter, link};

fn read(path: &str) -> Result<Vec<Filter>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(n, l)| {
            let bytes: Vec<u8> = (0..l.len())
                .step_by(2)
                .map(|i| l.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
                .collect::<Option<_>>()
                .ok_or_else(|| format!("{path}: line {}: not hex", n + 1))?;
            Ok(Filter::from_msb_bytes(&bytes))
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, left, right, threshold] = args.as_slice() else {
        return Err("usage: pprl_link LEFT.hex RIGHT.hex THRESHOLD".into());
    };
    let (left, right) = (read(left)?, read(right)?);
    let threshold: f64 = threshold
        .parse()
        .map_err(|e| format!("threshold {threshold:?}: {e}"))?;
    // Five runs, the median (one run takes tens of milliseconds).
    let mut times = Vec::new();
    let mut pairs = Vec::new();
    for _ in 0..5 {
        let t = std::time::Instant::now();
        pairs = link(&left, &right, threshold);
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let seconds = times[2];
    for (i, j, d) in &pairs {
        println!("{i},{j},{d:.4}");
    }
    println!(
        "seconds={seconds:.4} comparisons={} threads={}",
        left.len() * right.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    Ok(())
}
