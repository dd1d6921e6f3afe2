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
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let bytes: Vec<u8> = (0..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16))
                .collect::<Result<_, _>>()?;
            // bitarray's big-endian bit order: bit i is the (7 - i % 8)th of byte i / 8.
            let mut f = Filter::new(bytes.len() * 8);
            for (n, b) in bytes.iter().enumerate() {
                for k in 0..8 {
                    if b >> (7 - k) & 1 == 1 {
                        f.set(n * 8 + k);
                    }
                }
            }
            Ok(f)
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (left, right) = (read(&args[1])?, read(&args[2])?);
    let threshold: f64 = args[3].parse()?;
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
