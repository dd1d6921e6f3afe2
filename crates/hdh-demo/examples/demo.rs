//! Generate the demo dataset: `cargo run --release -p hdh-demo --example demo -- OUT_DIR [PERSONS] [SEED]`.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().ok_or("usage: demo OUT_DIR [PERSONS] [SEED]")?;
    let mut opts = hdh_demo::DemoOptions::default();
    if let Some(p) = args.next() {
        opts.persons = p.parse()?;
    }
    if let Some(s) = args.next() {
        opts.seed = s.parse()?;
    }
    let t = Instant::now();
    let summary = hdh_demo::generate(&opts, std::path::Path::new(&out), &mut |p| {
        if p.persons_done % 100_000 == 0 || p.persons_done == p.persons_total {
            eprintln!("{}/{} persons", p.persons_done, p.persons_total);
        }
    })?;
    let secs = t.elapsed().as_secs_f64();
    for (t, n) in &summary.tables {
        println!("{t:10} {n:>12}");
    }
    println!("{} persons in {secs:.2} s", summary.persons);
    Ok(())
}
